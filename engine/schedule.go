package engine

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/robfig/cron/v3"
)

// Scheduled rules run on a clock instead of on messages:
//
//	- name: weekday-digest
//	  schedule: "0 9 * * MON-FRI"
//	  timezone: Europe/London
//	  when: digest.received > 0
//	  actions: [...]
//
// robfig/cron is used only to parse specs and compute next times: firing is
// driven by the service's own loop and recorded in the store, one fire per
// rule and scheduled time, so a fire is neither lost across a restart nor
// repeated.

// Digest is what a scheduled rule sees as `digest`: the traffic since its
// previous run.
type Digest struct {
	// Since and Until bound the period: the previous scheduled time (or the
	// time the schedule started) and this one.
	Since time.Time `json:"since" expr:"since"`
	Until time.Time `json:"until" expr:"until"`
	// Received and Sent count the customers' and the team's messages
	// received in the period; Chats the chats they belong to.
	Received int `json:"received" expr:"received"`
	Sent     int `json:"sent" expr:"sent"`
	Chats    int `json:"chats" expr:"chats"`
	// Awaiting lists the chats waiting for a reply at Until, longest
	// waiting first.
	Awaiting []ChatState `json:"awaiting" expr:"awaiting"`
}

// Schedule is a parsed `schedule:` with its time zone.
type Schedule struct {
	Spec     string
	Location *time.Location
	sched    cron.Schedule
}

// Next returns the first scheduled time after t.
func (s *Schedule) Next(t time.Time) time.Time {
	return s.sched.Next(t.In(s.Location))
}

// Missed policies: what a schedule does about the runs it missed while the
// service was down.
const (
	MissedRun  = "run"  // run once, for the latest missed time (the default)
	MissedSkip = "skip" // skip them and wait for the next one
)

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseSchedule checks a spec (five fields, an optional leading seconds
// field, or a descriptor such as @daily or @every 1h) in a time zone.
func parseSchedule(spec, zone string) (s *Schedule, err error) {
	if strings.HasPrefix(strings.TrimSpace(spec), "CRON_TZ=") || strings.HasPrefix(strings.TrimSpace(spec), "TZ=") {
		return nil, fmt.Errorf("schedule: write the time zone as timezone:, not in the spec")
	}
	loc := time.UTC
	if zone != "" {
		if loc, err = time.LoadLocation(zone); err != nil {
			return nil, fmt.Errorf("timezone: unknown time zone %q", zone)
		}
	}
	defer func() { // the parser panics on some malformed specs
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("schedule: invalid spec %q", spec)
		}
	}()
	sched, err := cronParser.Parse(spec)
	if err != nil {
		msg, at := explainSchedule(spec, err)
		return nil, &specError{msg: msg, at: at}
	}
	s = &Schedule{Spec: spec, Location: loc, sched: sched}
	if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule: %q never fires", spec)
	}
	return s, nil
}

// specError is a schedule: problem at byte offset at of the spec (-1:
// the whole spec).
type specError struct {
	msg string
	at  int
}

func (e *specError) Error() string { return e.msg }

// PlanScheduledChat evaluates a for_each: chat rule for one chat: its
// condition and templates see `chat`, the chat's id and last message (as
// chat_id, text, sender...), `digest` and `now()`.
func (rs *RuleSet) PlanScheduledChat(r *Rule, chat ChatState, d *Digest, opts PlanOptions) (*Plan, error) {
	ev := &Event{ChatID: chat.ID, Sender: chat.LastSender, Message: Message{Type: chat.LastType, Text: chat.LastText}}
	opts.Chat = &chat
	return rs.planScheduled(r, ev, d, opts)
}

// PlanScheduled evaluates a scheduled rule for one run: its condition and
// templates see `digest`, `now()` and the team; message fields are empty.
func (rs *RuleSet) PlanScheduled(r *Rule, d *Digest, opts PlanOptions) (*Plan, error) {
	return rs.planScheduled(r, &Event{}, d, opts)
}

func (rs *RuleSet) planScheduled(r *Rule, ev *Event, d *Digest, opts PlanOptions) (*Plan, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	env := rs.env(ev, now, opts)
	env["digest"] = *d
	p := &Plan{Version: rs.Version}
	b, _ := rs.bufs.Get().(*planBuf)
	if b == nil {
		b = &planBuf{}
	}
	defer rs.bufs.Put(b)
	if ok, err := r.eval(&b.vm, env); err != nil || !ok {
		return p, err
	}
	p.Matches = append(p.Matches, rs.render(r, env))
	return p, nil
}

// scheduleFields name the fields of a five-field spec; a sixth, leading
// one is the seconds.
var scheduleFields = []string{"minute", "hour", "day-of-month", "month", "day-of-week"}

var (
	monthNames  = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames    = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
	descriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@every"}
)

// explainSchedule rewrites the cron parser's error about spec in the rules'
// words (which field, what it holds, the likely name meant) and returns the
// byte offset in spec of the part at fault (-1 if none).
func explainSchedule(spec string, err error) (string, int) {
	msg := err.Error()
	trimmed := strings.TrimSpace(spec)
	lead := strings.Index(spec, trimmed)
	if strings.HasPrefix(trimmed, "@") {
		desc, arg, _ := strings.Cut(trimmed, " ")
		switch {
		case strings.HasPrefix(msg, "unrecognized descriptor"):
			m := fmt.Sprintf("schedule: unknown descriptor %q", desc)
			if s := diag.Suggest(desc, descriptors); s != "" {
				return m + fmt.Sprintf(" (did you mean %s?)", s), lead
			}
			return m + " (one of " + strings.Join(descriptors, ", ") + ")", lead
		case strings.HasPrefix(msg, "failed to parse duration"):
			return fmt.Sprintf("schedule: @every needs a duration such as 30m or 1h, got %q", strings.TrimSpace(arg)), lead + len(desc) + 1
		}
		return "schedule: " + msg, lead
	}
	// The fields and their offsets.
	type field struct {
		text string
		at   int
	}
	var fields []field
	for i := 0; i < len(spec); {
		for i < len(spec) && (spec[i] == ' ' || spec[i] == '\t') {
			i++
		}
		j := i
		for j < len(spec) && spec[j] != ' ' && spec[j] != '\t' {
			j++
		}
		if j > i {
			fields = append(fields, field{spec[i:j], i})
		}
		i = j
	}
	if len(fields) < 5 || len(fields) > 6 {
		return fmt.Sprintf("schedule: expected 5 fields (%s), or 6 with seconds first, or a descriptor such as @daily; found %d",
			strings.Join(scheduleFields, " "), len(fields)), lead
	}
	names := scheduleFields
	if len(fields) == 6 {
		names = append([]string{"second"}, scheduleFields...)
	}
	// The parser's messages end with the part at fault: "...: FRY".
	_, bad, _ := strings.Cut(msg, ": ")
	if i := strings.LastIndex(msg, ": "); i >= 0 && !strings.HasPrefix(msg, "failed to parse int") {
		bad = msg[i+2:]
	}
	if strings.HasPrefix(msg, "failed to parse int from ") {
		bad, _, _ = strings.Cut(strings.TrimPrefix(msg, "failed to parse int from "), ": ")
	}
	for fi, f := range fields {
		at := strings.Index(f.text, bad)
		if bad == "" || at < 0 {
			continue
		}
		name := names[fi]
		off := f.at + at
		if strings.HasPrefix(msg, "failed to parse int") {
			var known []string
			what := "a number"
			switch name {
			case "month":
				known, what = monthNames, "a number or a month name (JAN-DEC)"
			case "day-of-week":
				known, what = dayNames, "a number or a day name (SUN-SAT)"
			}
			m := fmt.Sprintf("schedule: %q in the %s field is not %s", bad, name, what)
			if s := diag.Suggest(strings.ToUpper(bad), known); s != "" {
				m += fmt.Sprintf(" (did you mean %s?)", s)
			}
			return m, off
		}
		detail, _, _ := strings.Cut(msg, ": ")
		return fmt.Sprintf("schedule: %q in the %s field: %s", bad, name, detail), off
	}
	return "schedule: " + msg, lead
}
