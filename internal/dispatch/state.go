package dispatch

import (
	"context"
	"encoding/json"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

const (
	// maxCachedChats bounds the conversations kept in memory between
	// batches; past it the cache starts afresh (the store has them all).
	maxCachedChats = 20_000
	// maxDueChecks bounds the delayed checks run in one batch.
	maxDueChecks = 256
	// digestLimit bounds the events and chats a scheduled run reads.
	digestLimit = 100_000
)

// loadState reads the state the dispatcher keeps in memory.
func (d *Dispatcher) loadState(ctx context.Context) (*engine.State, error) {
	l, err := d.opt.State.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	return Restore(l, nil, d.opt.Logger.Warn), nil
}

// Restore builds the conversation engine's State from what the store
// holds: the state kept whole (l) and the given chats. warn, if set, is
// told of a chat record that cannot be read (that chat starts afresh).
func Restore(l *store.Loaded, chats map[string]store.Chat, warn func(msg string, args ...any)) *engine.State {
	st := &engine.State{
		Team:      make(map[string]bool, len(l.Team)),
		Chats:     map[string]*engine.Conversation{},
		Throttles: make(map[engine.ThrottleID][]time.Time, len(l.Throttles)),
		Groups:    make(map[engine.GroupID]*engine.OpenGroup, len(l.Groups)),
		Schedules: l.Schedules,
	}
	for _, p := range l.Team {
		st.Team[p] = true
	}
	for _, t := range l.Throttles {
		st.Throttles[engine.ThrottleID{Rule: t.Rule, Key: t.Key}] = t.Acts
	}
	for _, g := range l.Groups {
		og := &engine.OpenGroup{Rule: g.Rule, Key: g.Key, Start: g.Start, EventID: g.EventID}
		for _, e := range g.Events {
			ev, err := engine.Decode(e.Body)
			if err != nil {
				continue // it could not have joined
			}
			if e.ID == g.EventID {
				og.First = ev
			}
			item := engine.ItemOf(ev)
			item.Time = engine.MessageTime(ev, e.ReceivedAt)
			og.Items = append(og.Items, item)
		}
		st.Groups[og.ID()] = og
	}
	addChats(st, chats, warn)
	return st
}

// addChats takes stored chats into st, where they are not already (what
// is in memory is what was last committed).
func addChats(st *engine.State, stored map[string]store.Chat, warn func(msg string, args ...any)) {
	for id, c := range stored {
		if st.Chats[id] != nil {
			continue
		}
		conv, err := Conversation(id, c)
		if err != nil && warn != nil {
			warn("dispatch: conversation state unreadable; starting it afresh", "chat", id, "err", err)
		}
		st.Chats[id] = conv
	}
}

// Conversation is a stored chat as the engine's record: its JSON with its
// pending times. A record that cannot be read is an empty chat (and the
// error says why).
func Conversation(id string, c store.Chat) (*engine.Conversation, error) {
	conv := &engine.Conversation{}
	if err := json.Unmarshal(c.State, conv); err != nil {
		return &engine.Conversation{ChatID: id}, err
	}
	conv.Pending = c.Pending
	return conv, nil
}

// inputs is one batch's input to the engine, and what the store needs to
// know of it.
type inputs struct {
	batch engine.Batch
	// starts are the runs that only start a schedule.
	starts map[string]bool
	// unreadable are due checks whose event cannot be decoded: removed
	// without running.
	unreadable []int64
	events     int
	// ids are the ids of the events read (decodable or not): the batch
	// evaluates them all.
	ids []int64
	// groupsDue: an open group's window has closed.
	groupsDue bool
}

func (in *inputs) idle() bool {
	return in.events == 0 && len(in.batch.Checks) == 0 && len(in.batch.Runs) == 0 && len(in.unreadable) == 0 && !in.groupsDue
}

// inputs gathers a batch: the decoded events, the due delayed checks and
// scheduled runs, and the chats they need.
func (d *Dispatcher) inputs(ctx context.Context, rs *engine.RuleSet, events []store.Event, now time.Time) (*inputs, error) {
	in := &inputs{batch: engine.Batch{Now: now}, starts: map[string]bool{}, events: len(events)}
	var need []string
	want := func(ev *engine.Event) {
		if ev.ChatID != "" && d.st.Chats[ev.ChatID] == nil {
			need = append(need, ev.ChatID)
		}
	}
	for _, e := range events {
		in.ids = append(in.ids, e.ID)
		ev := d.takeDecoded(e.ID)
		if ev == nil {
			var err error
			if ev, err = engine.Decode(e.Body); err != nil {
				d.opt.Logger.Error("dispatch: skipping an event that cannot be decoded", "event", e.ID, "err", err)
				continue
			}
		}
		want(ev)
		in.batch.Events = append(in.batch.Events, engine.Stored{ID: e.ID, Event: ev, ReceivedAt: e.ReceivedAt, Duplicate: e.DuplicateOf != 0})
	}
	var timers []store.Timer
	if !d.nextCheck.IsZero() && !d.nextCheck.After(now) {
		var err error
		if timers, err = d.opt.State.DueTimers(ctx, now, maxDueChecks); err != nil {
			return nil, err
		}
	}
	for _, t := range timers {
		ev, err := engine.Decode(t.Event.Body)
		if err != nil {
			d.opt.Logger.Error("dispatch: the event of a delayed check cannot be decoded; dropping the check", "event", t.Event.ID, "rule", t.Rule, "err", err)
			in.unreadable = append(in.unreadable, t.ID)
			continue
		}
		want(ev)
		in.batch.Checks = append(in.batch.Checks, engine.Check{ID: t.ID, Rule: t.Rule, Due: t.DueAt,
			Event: engine.Stored{ID: t.Event.ID, Event: ev, ReceivedAt: t.Event.ReceivedAt}})
	}
	runs := rs.DueRuns(d.st, now)
	all := false
	for i := range runs {
		r := &runs[i]
		if r.Start {
			in.starts[r.Rule] = true
		}
		if !r.NeedsEvents() {
			continue
		}
		all = true
		evs, err := d.opt.State.EventsReceived(ctx, r.Since, r.At, digestLimit)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if ev, err := engine.Decode(e.Body); err == nil && e.DuplicateOf == 0 {
				r.Events = append(r.Events, ev)
			}
		}
	}
	in.batch.Runs = runs
	if all {
		stored, err := d.opt.State.AllChats(ctx, digestLimit)
		if err != nil {
			return nil, err
		}
		addChats(d.st, stored, d.opt.Logger.Warn)
	} else if len(need) > 0 {
		stored, err := d.opt.State.Chats(ctx, need)
		if err != nil {
			return nil, err
		}
		addChats(d.st, stored, d.opt.Logger.Warn)
	}
	next := rs.NextDue(d.st)
	in.groupsDue = len(d.st.Groups) > 0 && !next.IsZero() && !next.After(now)
	return in, nil
}

// toBatch turns a step's result into the rows to commit, and counts the
// jobs. An action that failed to render gets a job that is a dead letter
// from the start (logged, redacted, and returned in failed by rule and
// destination); the match itself stands.
func (d *Dispatcher) toBatch(rs *engine.RuleSet, res *engine.Result, in *inputs, cursor int64) (b store.Batch, jobs int, failed [][2]string) {
	b = store.Batch{Cursor: cursor, Version: rs.Version, Events: in.ids}
	now := in.batch.Now
	for _, o := range res.Outcomes {
		if o.Input == engine.InputEvent {
			for _, m := range o.Plan.Matches {
				b.Matches = append(b.Matches, store.Match{EventID: o.EventID, Rule: m.Rule.Name, Throttled: m.Throttled})
			}
		}
		for _, j := range o.Jobs {
			job, err := newJob(j, now)
			if err != nil {
				// The action is a delivery that failed: a dead letter with
				// the reason, replayable (rendered again) once the rules are
				// fixed.
				reason := "the action could not be rendered: " + rs.Redact(err.Error())
				d.opt.Logger.Error("dispatch: action not rendered; it is a dead letter",
					"event", j.EventID, "rule", j.Rule, "action", j.Action.Index+1, "action_name", j.Action.Name, "err", reason)
				job = store.NewJob{EventID: j.EventID, Rule: j.Rule, Action: j.Action.Index, Kind: j.Action.Kind,
					Destination: j.Action.Destination, Request: delivery.Unrendered(j.Action.Kind, j.Action.Destination),
					IdempotencyKey: j.Key, NextAttemptAt: now, Failed: reason}
				failed = append(failed, [2]string{j.Rule, j.Action.Destination})
			}
			b.Jobs = append(b.Jobs, job)
		}
	}
	e := res.Effects
	c := &b.State
	c.Team = e.Team
	for _, ch := range e.Chats {
		rec := *ch.Conversation
		rec.Pending = nil // kept as rows
		data, err := json.Marshal(&rec)
		if err != nil { // plain data with bounded times: not expected
			d.opt.Logger.Error("dispatch: a conversation cannot be encoded; its change is kept in memory only", "chat", rec.ChatID, "err", err)
			continue
		}
		c.Chats = append(c.Chats, store.ChatRow{ID: rec.ChatID, State: data, Added: ch.Added, Removed: ch.Removed})
	}
	for id, acts := range e.Throttles {
		c.Throttles = append(c.Throttles, store.ThrottleRow{Rule: id.Rule, Key: id.Key, Acts: acts})
	}
	for _, j := range e.Joined {
		c.Joined = append(c.Joined, store.GroupJoin{GroupRef: groupRef(j.Group), EventID: j.EventID, Opened: j.Opened})
	}
	for _, g := range e.Closed {
		c.Closed = append(c.Closed, groupRef(g))
	}
	for _, t := range e.Timers {
		c.Timers = append(c.Timers, store.TimerRow{Rule: t.Rule, EventID: t.EventID, Due: t.Due})
	}
	c.Checked = append(e.Checked, in.unreadable...)
	for rule, at := range e.Schedules {
		c.Schedules = append(c.Schedules, store.ScheduleRow{Rule: rule, At: at, Ran: !in.starts[rule]})
	}
	return b, len(b.Jobs), failed
}

func groupRef(g engine.GroupID) store.GroupRef {
	return store.GroupRef{Rule: g.Rule, Key: g.Key, Start: time.UnixMilli(g.Start).UTC()}
}

// newJob makes the delivery job of one rendered action, due now. The stored
// request is the whole actions.Request (see delivery.EncodeRequest), so
// that delivery can rebuild it.
func newJob(j engine.Job, now time.Time) (store.NewJob, error) {
	if j.Err != nil {
		return store.NewJob{}, j.Err
	}
	data, err := delivery.EncodeRequest(j.Request)
	if err != nil {
		return store.NewJob{}, err
	}
	return store.NewJob{
		EventID:        j.EventID,
		Rule:           j.Rule,
		Action:         j.Action.Index,
		Kind:           j.Action.Kind,
		Destination:    j.Action.Destination,
		Request:        data,
		IdempotencyKey: j.Key,
		NextAttemptAt:  now,
	}, nil
}
