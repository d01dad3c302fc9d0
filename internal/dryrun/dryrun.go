// Package dryrun evaluates payloads through the live evaluation path
// (engine.Decode and RuleSet.Plan) and reports, without sending anything,
// what the rules would do: the matched rules in order and every rendered
// request, with secrets shown as ***. The CLI's `dryrun` command and the
// service's dry-run API both print its reports.
package dryrun

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
)

// Options tune a dry run. The zero value is valid.
type Options struct {
	// Now is the evaluation time (`now()`); zero means time.Now().
	Now time.Time
	// Explain adds, for every rule that did not match, why.
	Explain bool
}

// Report is the outcome of one payload. Its JSON form is what
// `switchboard dryrun --json` prints, one object per line.
type Report struct {
	Payload string `json:"payload"`
	Error   string `json:"error,omitempty"`
	Version string `json:"version,omitempty"`
	// Chat is the conversation state the rules saw (`chat`), with this
	// payload taken into account.
	Chat    *engine.ChatState `json:"chat,omitempty"`
	Matched []Matched         `json:"matched"`
	Misses  []Miss            `json:"not_matched,omitempty"`

	formatted [][]string // readable form of each action, by match
}

// Matched is one rule that matched, with its rendered actions.
type Matched struct {
	Rule string `json:"rule"`
	File string `json:"file"`
	Line int    `json:"line"`
	// DueAt is set for a delayed rule (after:): nothing is done now; the
	// rule is checked again at DueAt (see Session.Finish).
	DueAt *time.Time `json:"due_at,omitempty"`
	// Group is the key of the group a grouped rule's match joins; it acts
	// when the group's window closes (see Session.Finish).
	Group string `json:"group,omitempty"`
	// Throttled: a throttle dropped the actions (a repeat of the key
	// within the window); Actions shows what they would have been.
	Throttled bool     `json:"throttled,omitempty"`
	Actions   []Action `json:"actions"`
}

// Action is one rendered action, or the error that stopped it.
type Action struct {
	Kind        string          `json:"kind"`
	Destination string          `json:"destination,omitempty"`
	Request     json.RawMessage `json:"request,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Miss is a rule that did not match, and why.
type Miss struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Session is one dry run over several payloads: like the service, it keeps
// each chat's conversation state and the team directory (every user_phone
// seen) from one payload to the next, in the order they are run. The zero
// value is an empty session.
type Session struct {
	chats map[string][]observed // by chat id, in the order run
	team  map[string]bool
	// throttles holds the end of each open throttle window, by rule and key.
	throttles map[[2]string]time.Time
	// groups collects the messages of grouped rules, by rule and key.
	groups map[[2]string][]*engine.Event
	// first and last bound the payloads' times, for scheduled runs.
	first, last time.Time
	// pending are the delayed checks (`after:`) of the payloads run.
	pending []delayed
}

// observed is one message taken into a chat's state.
type observed struct {
	ev       *engine.Event
	at       time.Time
	fromTeam bool
}

// delayed is a check of a rule with after: for one payload.
type delayed struct {
	name string
	ev   *engine.Event
	rule string
	due  time.Time
}

// Run evaluates one raw payload on its own. name is how the payload is
// shown (its path). A payload that cannot be decoded gives a Report with
// Error set.
func Run(rs *engine.RuleSet, name string, raw []byte, opts Options) *Report {
	var s Session
	return s.Run(rs, name, raw, opts)
}

// Run evaluates one raw payload after those already run in the session.
func (s *Session) Run(rs *engine.RuleSet, name string, raw []byte, opts Options) *Report {
	rep := &Report{Payload: name, Version: rs.Version, Matched: []Matched{}}
	ev, err := engine.Decode(raw)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	isTeam := s.observe(rs, ev, now)
	chat := s.state(ev.ChatID, time.Time{}, now)
	rep.Chat = chat
	plan, err := rs.Plan(ev, engine.PlanOptions{Now: now, Explain: opts.Explain, Chat: chat, IsTeam: isTeam})
	if err != nil {
		rep.Error = rs.Redact(err.Error())
		return rep
	}
	rep.add(rs, plan)
	at := engine.MessageTime(ev, now)
	if s.first.IsZero() || at.Before(s.first) {
		s.first = at
	}
	if at.After(s.last) {
		s.last = at
	}
	for i, m := range plan.Matches {
		switch {
		case !m.DueAt.IsZero():
			s.pending = append(s.pending, delayed{name: name, ev: ev, rule: m.Rule.Name, due: m.DueAt})
		case m.Rule.Group != nil:
			if s.groups == nil {
				s.groups = map[[2]string][]*engine.Event{}
			}
			k := [2]string{m.Rule.Name, m.GroupKey}
			s.groups[k] = append(s.groups[k], ev)
			rep.Matched[i].Group = m.GroupKey
		case m.Rule.Throttle != nil:
			if s.throttles == nil {
				s.throttles = map[[2]string]time.Time{}
			}
			k := [2]string{m.Rule.Name, m.ThrottleKey}
			if until, open := s.throttles[k]; open && at.Before(until) {
				rep.Matched[i].Throttled = true
			} else {
				s.throttles[k] = at.Add(m.Rule.Throttle.Per)
			}
		}
	}
	for _, miss := range plan.Misses {
		rep.Misses = append(rep.Misses, Miss{Rule: miss.Rule.Name, Reason: rs.Redact(miss.Reason)})
	}
	return rep
}

// Finish runs the delayed checks of the session that are due by the
// evaluation time (opts.Now, default the current time), each with the
// conversation state at its due time, and returns one Report per check.
// Checks not yet due are reported as such.
func (s *Session) Finish(rs *engine.RuleSet, opts Options) []*Report {
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	var out []*Report
	for _, evs := range s.sortedGroups() {
		r := rs.Rule(evs.rule)
		items := make([]engine.GroupItem, len(evs.events))
		for i, ev := range evs.events {
			items[i] = engine.ItemOf(ev)
		}
		rep := &Report{Payload: fmt.Sprintf("group %q of %s (%d messages)", evs.key, evs.rule, len(items)), Version: rs.Version, Matched: []Matched{}}
		rep.add(rs, rs.PlanGroup(r, evs.events[0], items, engine.PlanOptions{Now: now, IsTeam: s.isTeam(rs)}))
		out = append(out, rep)
	}
	// Scheduled rules run once at the evaluation time, with a digest of
	// the payloads of the run.
	for _, r := range rs.Rules {
		if r.Schedule == nil || !r.Enabled || s.first.IsZero() {
			continue
		}
		d := s.digest(now)
		rep := &Report{Payload: fmt.Sprintf("scheduled %s (%s), run at %s", r.Name, r.Schedule.Spec, now.Format(time.RFC3339)), Version: rs.Version, Matched: []Matched{}}
		plan, err := rs.PlanScheduled(r, d, engine.PlanOptions{Now: now, IsTeam: s.isTeam(rs)})
		if err != nil {
			rep.Error = rs.Redact(err.Error())
		} else {
			rep.add(rs, plan)
		}
		out = append(out, rep)
	}
	for _, d := range s.pending {
		name := fmt.Sprintf("%s (%s after: checked at %s)", d.name, d.rule, d.due.Format(time.RFC3339))
		rep := &Report{Payload: name, Version: rs.Version, Matched: []Matched{}}
		out = append(out, rep)
		if d.due.After(now) {
			rep.Error = fmt.Sprintf("not due yet at %s (pass a later --at)", now.Format(time.RFC3339))
			continue
		}
		chat := s.state(d.ev.ChatID, d.due, d.due)
		rep.Chat = chat
		plan, err := rs.Plan(d.ev, engine.PlanOptions{Now: d.due, Chat: chat, IsTeam: s.isTeam(rs), Recheck: d.rule})
		if err != nil {
			rep.Error = rs.Redact(err.Error())
			continue
		}
		rep.add(rs, plan)
	}
	return out
}

type groupOf struct {
	rule, key string
	events    []*engine.Event
}

// sortedGroups lists the session's groups by rule and key.
func (s *Session) sortedGroups() []groupOf {
	var out []groupOf
	for k, evs := range s.groups {
		out = append(out, groupOf{rule: k[0], key: k[1], events: evs})
	}
	slices.SortFunc(out, func(a, b groupOf) int { return strings.Compare(a.rule+"\x00"+a.key, b.rule+"\x00"+b.key) })
	return out
}

// digest sums up the session's payloads as a scheduled rule would see them
// at now: all of them, since the earliest.
func (s *Session) digest(now time.Time) *engine.Digest {
	d := &engine.Digest{Since: s.first, Until: now}
	for id, msgs := range s.chats {
		d.Chats++
		for _, m := range msgs {
			if m.fromTeam {
				d.Sent++
			} else {
				d.Received++
			}
		}
		if st := s.state(id, now, now); st != nil && st.AwaitingReply {
			d.Awaiting = append(d.Awaiting, *st)
		}
	}
	slices.SortFunc(d.Awaiting, func(a, b engine.ChatState) int { return a.AwaitingSince.Compare(b.AwaitingSince) })
	return d
}

// add records a plan's matches and their rendered requests.
func (rep *Report) add(rs *engine.RuleSet, plan *engine.Plan) {
	for _, m := range plan.Matches {
		mr := Matched{Rule: m.Rule.Name, File: m.Rule.File, Line: m.Rule.Line, Actions: []Action{}}
		if !m.DueAt.IsZero() {
			due := m.DueAt
			mr.DueAt = &due
		}
		var texts []string
		for _, a := range m.Actions {
			out := Action{Kind: a.Action.Kind, Destination: a.Action.Destination}
			if a.Err != nil {
				out.Error = rs.Redact(a.Err.Error())
				texts = append(texts, "error: "+out.Error)
			} else if wire, err := rs.Wire(a.Request); err != nil {
				out.Error = rs.Redact(err.Error())
				texts = append(texts, "error: "+out.Error)
			} else {
				data, err := actions.JSON(wire)
				if err != nil {
					out.Error = err.Error()
				}
				out.Request = json.RawMessage(rs.Redact(string(data)))
				texts = append(texts, rs.Redact(FormatWire(rs.Kind(a.Request.Kind), wire, data)))
			}
			mr.Actions = append(mr.Actions, out)
		}
		rep.Matched = append(rep.Matched, mr)
		rep.formatted = append(rep.formatted, texts)
	}
}

// observe takes a payload into the session's state and returns the team
// check to evaluate it with.
func (s *Session) observe(rs *engine.RuleSet, ev *engine.Event, now time.Time) func(string) bool {
	if s.chats == nil {
		s.chats, s.team = map[string][]observed{}, map[string]bool{}
	}
	if p := engine.NormalizePhone(ev.UserPhone); p != "" {
		s.team[p] = true
	}
	isTeam := s.isTeam(rs)
	if ev.ChatID != "" {
		s.chats[ev.ChatID] = append(s.chats[ev.ChatID], observed{ev: ev, at: engine.MessageTime(ev, now), fromTeam: engine.FromTeam(ev, isTeam)})
	}
	return isTeam
}

func (s *Session) isTeam(rs *engine.RuleSet) func(string) bool {
	return func(phone string) bool {
		n := engine.NormalizePhone(phone)
		return s.team[n] || rs.IsTeam(n)
	}
}

// state is a chat's state at now, from the messages written up to cutoff
// (zero: all of them), or nil for a payload without a chat.
func (s *Session) state(chatID string, cutoff, now time.Time) *engine.ChatState {
	msgs, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	var c engine.Conversation
	for _, m := range msgs {
		if cutoff.IsZero() || !m.at.After(cutoff) {
			c.Observe(m.ev, m.fromTeam, m.at)
		}
	}
	st := c.State(now)
	return &st
}

// FormatWire prints a request's wire form (data is its JSON) in its kind's
// readable form (actions.Formatter), or as indented JSON.
func FormatWire(k actions.Kind, wire any, data []byte) string {
	if f, ok := k.(actions.Formatter); ok {
		if s, err := f.Format(wire); err == nil {
			return s
		}
	}
	return actions.IndentJSON(string(data))
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "== %s\n", r.Payload)
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n\n", r.Error)
		return
	}
	if c := r.Chat; c != nil {
		if c.AwaitingReply {
			fmt.Fprintf(w, "chat %s: awaiting a reply since %s (%s); %d received, %d sent\n", c.ID,
				c.AwaitingSince.Format(time.RFC3339), c.WaitingFor.Round(time.Second), c.ReceivedCount, c.SentCount)
		} else {
			fmt.Fprintf(w, "chat %s: answered; %d received, %d sent\n", c.ID, c.ReceivedCount, c.SentCount)
		}
	}
	if len(r.Matched) == 0 {
		fmt.Fprintln(w, "no rule matched")
	}
	for i, m := range r.Matched {
		fmt.Fprintf(w, "matched %s (%s:%d)\n", m.Rule, m.File, m.Line)
		if m.DueAt != nil {
			fmt.Fprintf(w, "  delayed: checked again at %s; acts only if it still holds then\n", m.DueAt.Format(time.RFC3339))
		}
		if m.Group != "" {
			fmt.Fprintf(w, "  grouped under %q: acts once when the group's window closes\n", m.Group)
		}
		if m.Throttled {
			fmt.Fprintln(w, "  throttled: a repeat within the window; nothing is sent")
		}
		for j, a := range m.Actions {
			dest := ""
			if a.Destination != "" {
				dest = " -> " + a.Destination
			}
			fmt.Fprintf(w, "  action %d: %s%s\n", j+1, a.Kind, dest)
			fmt.Fprint(w, indent(r.formatted[i][j], "    "))
		}
	}
	for _, miss := range r.Misses {
		fmt.Fprintf(w, "not matched %s: %s\n", miss.Rule, miss.Reason)
	}
	fmt.Fprintln(w)
}

// WriteJSON prints the report as one line of JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding dry-run report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

func indent(s, prefix string) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
