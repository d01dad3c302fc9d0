package engine

import (
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on machines without a zoneinfo database

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
		return nil, fmt.Errorf("schedule: %v", err)
	}
	s = &Schedule{Spec: spec, Location: loc, sched: sched}
	if s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, fmt.Errorf("schedule: %q never fires", spec)
	}
	return s, nil
}

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
	env := newEnv(ev, now, opts.Chat, rs.teamCheck(opts.IsTeam))
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
