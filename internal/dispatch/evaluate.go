package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// idempotencyKey is the key of the delivery of one action of one rule for
// one stored event: "<event id>:<rule>:<action index>". A duplicate copy of
// a message has its own event id, so its deliveries have their own keys.
func idempotencyKey(eventID int64, rule string, action int) string {
	return fmt.Sprintf("%d:%s:%d", eventID, rule, action)
}

// evaluate decides every event with rs and returns one result per event it
// could decode, and the number of jobs among them. An event that cannot be
// decoded or evaluated is logged and left out: it must not hold up the
// cursor, and evaluating it again would fail again.
func (d *Dispatcher) evaluate(ctx context.Context, rs *engine.RuleSet, events []store.Event) ([]store.Evaluated, int, error) {
	decoded := make([]*engine.Event, len(events))
	for i, e := range events {
		ev, err := engine.Decode(e.Body)
		if err != nil {
			d.opt.Logger.Error("dispatch: skipping an event that cannot be decoded", "event", e.ID, "err", err)
			continue
		}
		decoded[i] = ev
	}
	state, err := d.loadState(ctx, rs, decoded)
	if err != nil {
		return nil, 0, err
	}
	results := make([]store.Evaluated, 0, len(events))
	jobs := 0
	for i, e := range events {
		if decoded[i] == nil {
			continue
		}
		r, ok := d.evaluateOne(rs, e, decoded[i], state.observe(d, e, decoded[i]), state.isTeam)
		if !ok {
			continue
		}
		jobs += len(r.Jobs)
		results = append(results, r)
	}
	if err := state.attach(results); err != nil {
		return nil, 0, err
	}
	return results, jobs, nil
}

func (d *Dispatcher) evaluateOne(rs *engine.RuleSet, e store.Event, ev *engine.Event, chat *engine.ChatState, isTeam func(string) bool) (store.Evaluated, bool) {
	log := d.opt.Logger.With("event", e.ID)
	now := d.opt.Now()
	plan, err := rs.Plan(ev, engine.PlanOptions{Now: now, Duplicate: isDuplicate(e), Chat: chat, IsTeam: isTeam})
	if err != nil {
		log.Error("dispatch: skipping an event that cannot be evaluated", "err", rs.Redact(err.Error()))
		return store.Evaluated{}, false
	}
	out := store.Evaluated{EventID: e.ID, RulesetVersion: plan.Version}
	for _, m := range plan.Matches {
		out.Matched = append(out.Matched, m.Rule.Name)
		if g := m.Rule.Group; g != nil { // a grouped rule: acts when the window closes
			out.Groups = append(out.Groups, store.GroupJoin{Rule: m.Rule.Name, Key: m.GroupKey, Window: g.Window})
			continue
		}
		if !m.DueAt.IsZero() { // a delayed rule: checked again when due
			out.Timers = append(out.Timers, store.NewTimer{Rule: m.Rule.Name, DueAt: m.DueAt})
			continue
		}
		if t := m.Rule.Throttle; t != nil {
			if out.Throttles == nil {
				out.Throttles = map[string]store.ThrottleCheck{}
			}
			out.Throttles[m.Rule.Name] = store.ThrottleCheck{Key: m.ThrottleKey, At: engine.MessageTime(ev, e.ReceivedAt), Per: t.Per}
		}
		out.Jobs = append(out.Jobs, Jobs(rs, log, e.ID, m, now)...)
	}
	return out, true
}

// Jobs makes the delivery jobs of a match's rendered actions, due now. An
// action that failed to render is logged (redacted) and gets no job; the
// match itself stands.
func Jobs(rs *engine.RuleSet, log *slog.Logger, eventID int64, m engine.Match, now time.Time) []store.NewJob {
	var out []store.NewJob
	for _, a := range m.Actions {
		job, err := newJob(eventID, m.Rule.Name, a, now)
		if err != nil {
			log.Warn("dispatch: action not rendered; no delivery",
				"rule", m.Rule.Name, "action", a.Action.Index, "err", rs.Redact(err.Error()))
			continue
		}
		out = append(out, job)
	}
	return out
}

// newJob makes the delivery job of one rendered action, due now. The stored
// request is the whole actions.Request (see delivery.EncodeRequest), so
// that delivery can rebuild it.
func newJob(eventID int64, rule string, a engine.Rendered, now time.Time) (store.NewJob, error) {
	if a.Err != nil {
		return store.NewJob{}, a.Err
	}
	data, err := delivery.EncodeRequest(a.Request)
	if err != nil {
		return store.NewJob{}, err
	}
	return store.NewJob{
		Rule:           rule,
		Action:         a.Action.Index,
		Kind:           a.Action.Kind,
		Destination:    a.Action.Destination,
		Request:        data,
		IdempotencyKey: idempotencyKey(eventID, rule, a.Action.Index),
		NextAttemptAt:  now,
	}, nil
}

// isDuplicate reports whether e is another copy of a message already
// stored: only rules with `dedupe: false` act on it.
func isDuplicate(e store.Event) bool { return e.DuplicateOf != 0 }
