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
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
)

// Options tune a dry run. The zero value is valid.
type Options struct {
	// Now is the evaluation time (`now()`); zero means each payload's own
	// time (its timestamp; the current time for a payload without one), as
	// in rule tests, and for Finish the latest of them.
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
	// At is the evaluation time (`now()`); AtPayload says it is the
	// payload's own time (no --at was given).
	At        time.Time `json:"evaluated_at,omitzero"`
	AtPayload bool      `json:"evaluated_at_payload_time,omitempty"`
	// Chat is the conversation state the rules saw (`chat`), with this
	// payload taken into account.
	Chat    *engine.ChatState `json:"chat,omitempty"`
	Matched []Matched         `json:"matched"`
	Misses  []Miss            `json:"not_matched,omitempty"`

	formatted [][]string // readable form of each action, by match
	atGiven   bool       // At is Options.Now (--at)
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

// Action is one rendered action, or the error that stopped it. Number is
// its number in the rule, from 1, as every output numbers it; Name its
// name:, if it has one.
type Action struct {
	Number      int             `json:"action"`
	Name        string          `json:"action_name,omitempty"`
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

// Session is one dry run over several payloads, through the same
// conversation engine as the service (engine.Sim): it keeps each chat's
// conversation, the team directory (every user_phone seen), throttles and
// groups from one payload to the next, in the order they are run, as if
// they reached the service together. The zero value is an empty session.
type Session struct {
	sim   engine.Sim
	names map[int64]string // payload names by the id the engine gave them
	// latest is the latest payload time used as the evaluation time.
	latest time.Time
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
	rep.atGiven = !now.IsZero()
	if now.IsZero() {
		now, rep.AtPayload = ev.Time, !ev.Time.IsZero()
		if now.IsZero() {
			now = time.Now().UTC()
		}
		if now.After(s.latest) {
			s.latest = now
		}
	}
	rep.At = now
	out := s.sim.Add(rs, ev, raw, now, opts.Explain)
	if s.names == nil {
		s.names = map[int64]string{}
	}
	s.names[out.EventID] = name
	rep.Chat = out.Chat
	rep.add(rs, out.Plan)
	for _, miss := range out.Plan.Misses {
		rep.Misses = append(rep.Misses, Miss{Rule: miss.Rule.Name, Reason: rs.Redact(miss.Reason)})
	}
	return rep
}

// finishAt is Finish's time: opts.Now; else, as in rule tests, the last
// due delayed check of the payloads, or the latest payload time if it is
// later; else the current time.
func (s *Session) finishAt(o Options) time.Time {
	if !o.Now.IsZero() {
		return o.Now
	}
	at := s.latest
	for _, t := range s.sim.Pending() {
		if t.Due.After(at) {
			at = t.Due
		}
	}
	if at.IsZero() {
		return time.Now().UTC()
	}
	return at
}

// Finish is time passing to the evaluation time (opts.Now, default the
// last due delayed check or the latest payload time, see finishAt) after
// the session's payloads: the delayed checks due by
// then run, each with the conversation as it is after every payload; the
// groups whose window has closed act; and every scheduled rule runs once at
// that time with a digest of the payloads (for_each: chat rules over the
// payloads' chats). It returns one Report for each, and one for each
// delayed check not yet due.
func (s *Session) Finish(rs *engine.RuleSet, opts Options) []*Report {
	now := s.finishAt(opts)
	var runs []string
	if len(s.names) > 0 {
		runs = rs.ScheduledRules()
	}
	var out []*Report
	for _, o := range s.sim.Finish(rs, now, runs, nil) {
		rep := &Report{Payload: s.title(rs, o), Version: rs.Version, Matched: []Matched{}, Chat: o.Chat}
		if o.Plan != nil {
			rep.add(rs, o.Plan)
		}
		out = append(out, rep)
	}
	for _, t := range s.sim.Pending() {
		rep := &Report{Payload: fmt.Sprintf("%s (%s after: checked at %s)", s.names[t.EventID], t.Rule, t.Due.Format(time.RFC3339)),
			Version: rs.Version, Matched: []Matched{},
			Error: fmt.Sprintf("not due yet at %s (pass a later --at)", now.Format(time.RFC3339))}
		out = append(out, rep)
	}
	return out
}

// title names what a Finish outcome evaluated.
func (s *Session) title(rs *engine.RuleSet, o engine.Outcome) string {
	switch o.Input {
	case engine.InputCheck:
		return fmt.Sprintf("%s (%s after: checked at %s)", s.names[o.EventID], o.Rule, o.Due.Format(time.RFC3339))
	case engine.InputGroup:
		return fmt.Sprintf("group %q of %s (%d messages)", o.Group, o.Rule, o.Size)
	case engine.InputRun:
		spec := ""
		if r := rs.Rule(o.Rule); r != nil && r.Schedule != nil {
			spec = r.Schedule.Spec
		}
		t := fmt.Sprintf("scheduled %s (%s), run at %s", o.Rule, spec, o.At.Format(time.RFC3339))
		if o.Chat != nil {
			t += fmt.Sprintf(" for chat %s", o.Chat.ID)
		}
		return t
	}
	return o.Input
}

// add records a plan's matches and their rendered requests.
func (rep *Report) add(rs *engine.RuleSet, plan *engine.Plan) {
	for _, m := range plan.Matches {
		mr := Matched{Rule: m.Rule.Name, File: m.Rule.File, Line: m.Rule.Line, Actions: []Action{}, Throttled: m.Throttled}
		if !m.DueAt.IsZero() {
			due := m.DueAt
			mr.DueAt = &due
		}
		if m.Rule.Group != nil && m.Actions == nil {
			mr.Group = m.GroupKey
		}
		var texts []string
		for _, a := range m.Actions {
			out := Action{Number: a.Action.Index + 1, Name: a.Action.Name, Kind: a.Action.Kind, Destination: a.Action.Destination}
			if a.Err != nil {
				out.Error = rs.Redact(a.Err.Error())
				texts = append(texts, "error: "+out.Error)
			} else if wire, exact, err := rs.WireMasked(a.Request); err != nil {
				out.Error = rs.Redact(err.Error())
				texts = append(texts, "error: "+out.Error)
			} else {
				// Masked, the destination's secrets are *** where they are
				// used and nothing else changes; otherwise they are
				// replaced as text.
				redact := rs.Redact
				if exact {
					redact = func(s string) string { return s }
				}
				data, err := actions.JSON(wire)
				if err != nil {
					out.Error = err.Error()
				}
				out.Request = json.RawMessage(redact(string(data)))
				if !json.Valid(out.Request) {
					out.Request, _ = json.Marshal(string(out.Request))
				}
				texts = append(texts, redact(FormatWire(rs.Kind(a.Request.Kind), wire, data)))
			}
			mr.Actions = append(mr.Actions, out)
		}
		rep.Matched = append(rep.Matched, mr)
		rep.formatted = append(rep.formatted, texts)
	}
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
	switch {
	case r.AtPayload:
		fmt.Fprintf(w, "evaluated at %s, the payload's own time (--at sets another)\n", r.At.Format(time.RFC3339))
	case r.atGiven:
		fmt.Fprintf(w, "evaluated at %s (--at)\n", r.At.Format(time.RFC3339))
	case !r.At.IsZero():
		fmt.Fprintf(w, "evaluated at %s, the current time (the payload has no timestamp)\n", r.At.Format(time.RFC3339))
	}
	if r.Error != "" {
		fmt.Fprintf(w, "error: %s\n\n", r.Error)
		return
	}
	if c := r.Chat; c != nil {
		if c.AwaitingReply {
			fmt.Fprintf(w, "chat %s: awaiting a reply since %s (%s); %d received, %d sent\n", c.ID,
				c.AwaitingSince.Format(time.RFC3339), engine.FormatDuration(c.WaitingFor), c.ReceivedCount, c.SentCount)
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
			fmt.Fprintf(w, "  %s: %s%s\n", engine.ActionLabel(a.Number-1, a.Name), a.Kind, dest)
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

// State is the session's conversation state (the engine's, in memory).
func (s *Session) State() *engine.State { return &s.sim.State }
