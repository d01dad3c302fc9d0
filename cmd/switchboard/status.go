package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/switchboard-dev/switchboard/internal/app"
)

func runStatus(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "status", "",
		"Show a running server's rules (files, version, rule count, the last reload and its errors)\n"+
			"and queue. Exit status 1 if the last rules reload failed or the store failed.")
	var c client
	c.flags(fs)
	asJSON := fs.Bool("json", false, "print the server's JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard status: %v\n", err)
		return 2
	}
	var st app.StatusReport
	if err := c.send(ctx, http.MethodGet, "/status", nil, nil, &st, false); err != nil {
		fmt.Fprintf(s.err, "switchboard status: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	} else {
		printStatus(s, st)
	}
	if !st.Rules.OK || st.Queue.Failed {
		return 1
	}
	return 0
}

func printStatus(s *stdio, st app.StatusReport) {
	r, q := st.Rules, st.Queue
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "version\t%s\n", r.Version)
	for i, f := range r.Files {
		label := ""
		if i == 0 {
			label = "files"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, f)
	}
	for i, f := range r.Named {
		label := ""
		if i == 0 {
			label = "named files"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, f)
	}
	fmt.Fprintf(tw, "rules\t%d rules, %d destinations, %d tests\n", r.Rules, r.Destinations, r.Tests)
	fmt.Fprintf(tw, "loaded\t%s\n", stamp(r.LastGood))
	outcome := "ok"
	if !r.OK {
		outcome = fmt.Sprintf("FAILED (%d errors; the rules above still run)", len(r.Errors))
	}
	fmt.Fprintf(tw, "last reload\t%s at %s (%s, took %s)\n", outcome, stamp(r.At), r.Cause, time.Duration(r.Duration).Round(time.Microsecond))
	fmt.Fprintf(tw, "reloads\t%d ok, %d failed since start\n", r.Reloads, r.Failures)
	fmt.Fprintf(tw, "events\t%d stored, evaluated through %d, backlog %d bytes\n", q.Events, q.Cursor, q.BacklogBytes)
	fmt.Fprintf(tw, "deliveries\t%d pending, %d dead letters\n", q.Pending, q.Dead)
	fmt.Fprintf(tw, "quarantine\t%d\n", q.Quarantined)
	for _, h := range st.Destinations {
		state := fmt.Sprintf("failing (%d in a row)", h.Failures)
		if h.Paused {
			state = fmt.Sprintf("PAUSED after %d failures in a row; next probe %s", h.Failures, stamp(h.NextProbe))
		}
		fmt.Fprintf(tw, "destination %s\t%s\n", h.Destination, state)
	}
	if q.DiskFull {
		fmt.Fprintf(tw, "disk\tFULL: payloads are answered 503 until there is room\n")
	}
	if q.Failed {
		fmt.Fprintf(tw, "store\tFAILED: the server stops accepting events\n")
	}
	_ = tw.Flush()
	if len(r.Errors) > 0 {
		fmt.Fprintln(s.out, "\nerrors of the last reload:")
		for _, e := range r.Errors {
			fmt.Fprintf(s.out, "  %s\n", e)
		}
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}
