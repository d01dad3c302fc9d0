package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/reload"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// DiffRequest is the body of POST /api/diff: the new rules files, by the
// name their errors should carry and their content, and the files they
// name (a tests: file, test payloads, list files) by their path as the
// rules name it (relative to the rules file's directory, joined to it).
// A named file may also be sent among Files, as before.
type DiffRequest struct {
	Files []DiffFile `json:"files"`
	Named []DiffFile `json:"named,omitempty"`
}

// DiffFile is one rules file of a DiffRequest.
type DiffFile struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// DiffReport is the answer of POST /api/diff: what the new rules would do
// differently from the running ones with the stored events of a period.
type DiffReport struct {
	Running string    `json:"running_version"`
	New     string    `json:"new_version"`
	Since   time.Time `json:"since"`
	// Events is the number of stored events replayed; Changed how many of
	// them would get different actions, listed in Diffs (at most limit:
	// Truncated says more changed, or more than max events were stored).
	Events    int         `json:"events"`
	Changed   int         `json:"changed"`
	Truncated bool        `json:"truncated,omitempty"`
	Diffs     []EventDiff `json:"diffs"`
	// TestFailures are the new rules' failing tests: a reload would refuse
	// them (unless tests are not required).
	TestFailures []string `json:"test_failures,omitempty"`
}

// EventDiff is one event whose actions differ.
type EventDiff struct {
	EventID    int64        `json:"event_id"`
	ReceivedAt time.Time    `json:"received_at"`
	Summary    string       `json:"summary"`
	Added      []ActionDiff `json:"added,omitempty"`
	Removed    []ActionDiff `json:"removed,omitempty"`
	Changed    []ActionDiff `json:"changed,omitempty"`
}

// ActionDiff is one action of Rule (Action is its number from 1, as every
// output numbers it; Name its name:, if it has one) that the new rules
// add, remove or render differently. Old and New are its wire form, exactly as
// it would be sent, secrets redacted; an action that fails to render is
// {"error": "..."}.
type ActionDiff struct {
	Rule        string          `json:"rule"`
	Action      int             `json:"action"`
	Name        string          `json:"action_name,omitempty"`
	Kind        string          `json:"kind"`
	Destination string          `json:"destination,omitempty"`
	Old         json.RawMessage `json:"old,omitempty"`
	New         json.RawMessage `json:"new,omitempty"`
}

// postDiff replays the stored events received in the last ?since= (default
// 24h) through the running rules and the posted ones and reports, per
// event, the actions added, removed or rendered differently. Nothing is
// stored or sent. ?limit= bounds the events listed (default 100), ?max=
// the events replayed (default 100000).
func (a *App) postDiff(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, limit, maxEvents := 24*time.Hour, 100, 100000
	if v := q.Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("since: expected a duration such as 24h, got %q", v))
			return
		}
		since = d
	}
	for key, dst := range map[string]*int{"limit": &limit, "max": &maxEvents} {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%s: expected a positive number, got %q", key, v))
				return
			}
			*dst = n
		}
	}
	var req DiffRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: expected {\"files\": [{\"name\", \"content\"}]}: %w", err))
		return
	}
	if len(req.Files) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("body: no rules files"))
		return
	}
	rep, err := a.Diff(r.Context(), req, since, limit, maxEvents)
	var le *loadError
	switch {
	case errors.As(err, &le):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "the new rules do not load", "errors": errorLines(le.err)})
	case err != nil:
		writeError(w, http.StatusInternalServerError, err)
	default:
		writeJSON(w, http.StatusOK, rep)
	}
}

// loadError is posted rules that do not load.
type loadError struct{ err error }

func (e *loadError) Error() string { return "the new rules do not load: " + e.err.Error() }
func (e *loadError) Unwrap() error { return e.err }

// checkPosted validates posted rules as a reload would, failing tests
// reported rather than refused. Posted rules read none of this machine's
// files: a tests: file, a payload or a list file they name is looked for
// among the posted files only. The error is a *loadError.
func (a *App) checkPosted(req DiffRequest) (*Checked, error) {
	srcs := make([]engine.Source, len(req.Files))
	for i, f := range req.Files {
		srcs[i] = engine.Source{Name: f.Name, Data: []byte(f.Content)}
	}
	named := make([]engine.Source, len(req.Named))
	for i, f := range req.Named {
		named[i] = engine.Source{Name: f.Name, Data: []byte(f.Content)}
	}
	o := a.checkOptions()
	o.AllowFailingTests = true
	checked, err := Check(reload.Posted(srcs, named), o)
	if err != nil {
		return nil, &loadError{err}
	}
	return checked, nil
}

// Diff replays the stored events received in the last since through the
// running rules and the posted ones and reports, per event, the actions
// added, removed or rendered differently (at most limit events listed,
// maxEvents replayed). Nothing is stored or sent. Rules that do not load
// give a *loadError. POST /api/diff and the console's rules page call it.
func (a *App) Diff(ctx context.Context, req DiffRequest, since time.Duration, limit, maxEvents int) (*DiffReport, error) {
	checked, err := a.checkPosted(req)
	if err != nil {
		return nil, err
	}
	next := checked.Rules
	running := a.Rules()
	from := time.Now().Add(-since).UTC()
	rep := &DiffReport{Running: running.Version, New: next.Version, Since: from, Diffs: []EventDiff{}}
	for _, e := range checked.TestFailures {
		rep.TestFailures = append(rep.TestFailures, e.Error())
	}
	var oldSim, newSim engine.Sim // each rule set keeps its own conversation state
	err = a.eachEventSince(ctx, from, func(e store.Event) bool {
		if rep.Events == maxEvents {
			rep.Truncated = true
			return false
		}
		rep.Events++
		if d, ok := diffEvent(running, next, &oldSim, &newSim, e); ok {
			rep.Changed++
			if len(rep.Diffs) < limit {
				rep.Diffs = append(rep.Diffs, d)
			} else {
				rep.Truncated = true
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// eachEventSince calls fn with every stored event received at or after
// from, in id order, until fn returns false. It pages through the store's
// events and adds nothing to it.
func (a *App) eachEventSince(ctx context.Context, from time.Time, fn func(store.Event) bool) error {
	for after := int64(0); ; {
		events, err := a.store.ReadEvents(ctx, after, 500)
		if err != nil || len(events) == 0 {
			return err
		}
		after = events[len(events)-1].ID
		for _, e := range events {
			if !e.ReceivedAt.Before(from) && !fn(e) {
				return nil
			}
		}
	}
}

// diffEvent evaluates one stored event with both rule sets, each through
// the conversation engine with the state the events before it built (as
// the dispatcher would have when it arrived), and compares the actions'
// wire forms.
func diffEvent(old, next *engine.RuleSet, oldSim, newSim *engine.Sim, e store.Event) (EventDiff, bool) {
	ev, err := engine.Decode(e.Body)
	if err != nil {
		return EventDiff{}, false
	}
	before := planned(old, oldSim.Add(old, ev, e.Body, e.ReceivedAt, false))
	after := planned(next, newSim.Add(next, ev, e.Body, e.ReceivedAt, false))
	d := EventDiff{EventID: e.ID, ReceivedAt: e.ReceivedAt,
		Summary: fmt.Sprintf("%s %s %s in %q", ev.Direction, ev.Message.Type, ev.Message.ID, ev.ChatTitle)}
	seen := map[actionKey]bool{}
	for _, n := range after.list {
		seen[n.key] = true
		o, ok := before.byKey[n.key]
		switch {
		case !ok:
			d.Added = append(d.Added, n.diff(nil, n.wire))
		case !bytes.Equal(o.wire, n.wire):
			d.Changed = append(d.Changed, n.diff(o.wire, n.wire))
		}
	}
	for _, o := range before.list {
		if !seen[o.key] {
			d.Removed = append(d.Removed, o.diff(o.wire, nil))
		}
	}
	return d, len(d.Added)+len(d.Removed)+len(d.Changed) > 0
}

type actionKey struct {
	rule   string
	action int
}

type plannedAction struct {
	key              actionKey
	name, kind, dest string
	wire             json.RawMessage
}

func (p plannedAction) diff(old, next json.RawMessage) ActionDiff {
	return ActionDiff{Rule: p.key.rule, Action: p.key.action + 1, Name: p.name, Kind: p.kind, Destination: p.dest, Old: old, New: next}
}

type plannedActions struct {
	list  []plannedAction
	byKey map[actionKey]plannedAction
}

// planned is every action an evaluation makes (throttled, delayed and
// grouped matches make none now), in its wire form.
func planned(rs *engine.RuleSet, o engine.Outcome) plannedActions {
	out := plannedActions{byKey: map[actionKey]plannedAction{}}
	for _, j := range o.Jobs {
		p := plannedAction{key: actionKey{j.Rule, j.Action.Index}, name: j.Action.Name, kind: j.Action.Kind, dest: j.Action.Destination, wire: wireJSON(rs, j.Rendered)}
		out.list = append(out.list, p)
		out.byKey[p.key] = p
	}
	return out
}

// wireJSON is a rendered action exactly as it would be sent, redacted.
func wireJSON(rs *engine.RuleSet, r engine.Rendered) json.RawMessage {
	errJSON := func(err error) json.RawMessage {
		data, _ := json.Marshal(map[string]string{"error": rs.Redact(err.Error())})
		return data
	}
	if r.Err != nil {
		return errJSON(r.Err)
	}
	wire, exact, err := rs.WireMasked(r.Request)
	if err != nil {
		return errJSON(err)
	}
	data, err := actions.JSON(wire)
	if err != nil {
		return errJSON(err)
	}
	out := json.RawMessage(data)
	if !exact {
		out = json.RawMessage(rs.Redact(string(data)))
	}
	if !json.Valid(out) {
		out, _ = json.Marshal(string(out))
	}
	return out
}
