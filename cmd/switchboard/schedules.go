package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
)

// maxCount bounds --count.
const maxCount = 1000

// runTimeLayout shows a run in the rule's time zone, with the offset.
const runTimeLayout = "Mon 2006-01-02 15:04:05 -07:00 MST"

func runSchedules(_ context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "schedules", "[-r] RULES...",
		"List the scheduled rules (schedule:) with their spec, time zone, for_each, whether they\n"+
			"are disabled, and their next run times, in the rule's time zone (UTC in brackets).\n"+
			"@every schedules are shown on multiples of their interval since 1970-01-01 UTC; the\n"+
			"service counts them from the schedule's start instead, so its runs may be shifted.")
	rulesOpt := addRulesFlag(fs, "rules file or directory (repeatable); arguments are rules too")
	from := fs.String("from", "", "list the runs after this RFC 3339 time (default: now)")
	countFlag := fs.String("count", "5", fmt.Sprintf("how many runs to list per rule (1 to %d)", maxCount))
	asJSON := fs.Bool("json", false, `print one JSON object per rule: {"rule", "file", "line", "schedule", "timezone", "for_each", "missed", "disabled", "next": [RFC 3339]}`)
	rest, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	rules := rulesOpt.with(rest)
	if len(rules) == 0 {
		fs.Usage()
		return 2
	}
	count, err := strconv.Atoi(*countFlag)
	if err != nil || count < 1 || count > maxCount {
		fmt.Fprintf(s.err, "switchboard schedules: --count: expected a number from 1 to %d, got %q\n", maxCount, *countFlag)
		return 2
	}
	at := time.Now()
	if *from != "" {
		if at, err = time.Parse(time.RFC3339, *from); err != nil {
			fmt.Fprintf(s.err, "switchboard schedules: --from: expected an RFC 3339 time such as 2026-01-02T09:00:00Z, got %q\n", *from)
			return 2
		}
	}
	rs, ok := loadOrReport(s, rules)
	if !ok {
		return 1
	}
	n := 0
	for _, r := range rs.Rules {
		if r.Schedule == nil {
			continue
		}
		n++
		rep := newScheduleReport(r, at, count)
		if *asJSON {
			if err := json.NewEncoder(s.out).Encode(rep); err != nil {
				fmt.Fprintf(s.err, "switchboard schedules: %v\n", err)
				return 1
			}
			continue
		}
		if n > 1 {
			fmt.Fprintln(s.out)
		}
		rep.writeText(s.out, at)
	}
	if n == 0 && !*asJSON {
		fmt.Fprintf(s.out, "no scheduled rules in %s\n", strings.Join(rules, ", "))
	}
	return 0
}

// scheduleReport is one scheduled rule as `schedules` prints it.
type scheduleReport struct {
	Rule     string      `json:"rule"`
	File     string      `json:"file"`
	Line     int         `json:"line"`
	Schedule string      `json:"schedule"`
	Timezone string      `json:"timezone"`
	ForEach  string      `json:"for_each,omitempty"`
	Missed   string      `json:"missed"`
	Disabled bool        `json:"disabled"`
	Next     []time.Time `json:"next"`
}

func newScheduleReport(r *engine.Rule, from time.Time, n int) *scheduleReport {
	rep := &scheduleReport{
		Rule: r.Name, File: r.File, Line: r.Line,
		Schedule: r.Schedule.Spec, Timezone: r.Schedule.Location.String(),
		Missed: r.Missed, Disabled: !r.Enabled,
		Next: r.Schedule.Times(from, n),
	}
	if r.ForEachChat {
		rep.ForEach = "chat"
	}
	if rep.Next == nil {
		rep.Next = []time.Time{}
	}
	return rep
}

func (rep *scheduleReport) writeText(w io.Writer, from time.Time) {
	fmt.Fprintf(w, "%s (%s:%d)\n", rep.Rule, rep.File, rep.Line)
	fmt.Fprintf(w, "  schedule: %s\n", rep.Schedule)
	fmt.Fprintf(w, "  timezone: %s\n", rep.Timezone)
	if rep.ForEach != "" {
		fmt.Fprintf(w, "  for_each: %s\n", rep.ForEach)
	}
	fmt.Fprintf(w, "  missed:   %s\n", rep.Missed)
	if rep.Disabled {
		fmt.Fprintf(w, "  disabled: the service does not run it (enabled: false)\n")
	}
	if len(rep.Next) == 0 {
		fmt.Fprintf(w, "  no run after %s\n", from.Format(time.RFC3339))
		return
	}
	fmt.Fprintf(w, "  next runs after %s:\n", from.Format(time.RFC3339))
	for _, t := range rep.Next {
		fmt.Fprintf(w, "    %s  [%s]\n", t.Format(runTimeLayout), t.UTC().Format(time.RFC3339))
	}
}
