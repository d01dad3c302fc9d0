package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Runs is what running scheduled rules needs of the store.
type Runs interface {
	ScheduleStart(ctx context.Context, rule string) (time.Time, bool, error)
	StartSchedule(ctx context.Context, rule string, at time.Time) error
	RecordRun(ctx context.Context, rule string, scheduledAt time.Time, version string, jobs []store.NewJob, chats []store.ChatRun) error
	EventsReceived(ctx context.Context, since, until time.Time, max int) ([]store.Event, error)
	AllChats(ctx context.Context, max int) (map[string][]byte, error)
}

// missedGrace is how late a run may start and still count as on time.
const missedGrace = time.Minute

// digestLimit bounds the events and chats a digest reads.
const digestLimit = 100_000

// runSchedules runs the scheduled rules that are due and returns how many
// runs it recorded.
func (s *Scheduler) runSchedules(ctx context.Context, rs *engine.RuleSet, now time.Time, team func(string) bool) (int, bool, error) {
	runs, ok := s.opt.Store.(Runs)
	if !ok {
		return 0, false, nil
	}
	n, anyJobs := 0, false
	for _, r := range rs.Rules {
		if r.Schedule == nil || !r.Enabled {
			continue
		}
		last, started, err := runs.ScheduleStart(ctx, r.Name)
		if err != nil {
			return n, anyJobs, err
		}
		if !started { // a new schedule counts from now: no back-filling
			if err := runs.StartSchedule(ctx, r.Name, now); err != nil {
				return n, anyJobs, err
			}
			continue
		}
		due := r.Schedule.Next(last)
		if due.IsZero() || due.After(now) {
			continue
		}
		// Runs missed while down: one run, for the latest missed time.
		for i := 0; i < 100_000; i++ {
			next := r.Schedule.Next(due)
			if next.IsZero() || next.After(now) {
				break
			}
			due = next
		}
		log := s.opt.Logger.With("rule", r.Name, "scheduled", due)
		var (
			jobs  []store.NewJob
			chats []store.ChatRun
		)
		if r.Missed == engine.MissedSkip && now.Sub(due) > missedGrace {
			log.Info("schedule: run missed while the service was down; skipped (missed: skip)")
		} else {
			if jobs, chats, err = s.runOne(ctx, runs, rs, r, last, due, now, team, log); err != nil {
				return n, anyJobs, err
			}
		}
		if err := runs.RecordRun(ctx, r.Name, due, rs.Version, jobs, chats); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, anyJobs, err
		}
		n++
		anyJobs = anyJobs || len(jobs) > 0 || len(chats) > 0
	}
	return n, anyJobs, nil
}

// runOne evaluates one run of a scheduled rule with its digest.
func (s *Scheduler) runOne(ctx context.Context, runs Runs, rs *engine.RuleSet, r *engine.Rule, since, until, now time.Time,
	team func(string) bool, log *slog.Logger,
) ([]store.NewJob, []store.ChatRun, error) {
	d, err := digest(ctx, runs, since, until, team)
	if err != nil {
		return nil, nil, err
	}
	if r.ForEachChat {
		chats, err := s.runPerChat(ctx, runs, rs, r, d, until, now, team, log)
		return nil, chats, err
	}
	plan, err := rs.PlanScheduled(r, d, engine.PlanOptions{Now: now, IsTeam: team})
	if err != nil {
		log.Warn("schedule: condition failed", "err", rs.Redact(err.Error()))
		return nil, nil, nil
	}
	var jobs []store.NewJob
	id := store.RunEventID(until)
	for _, m := range plan.Matches {
		for _, j := range dispatch.Jobs(rs, log, id, m, now) {
			j.IdempotencyKey = fmt.Sprintf("run:%s:%d:%d", r.Name, until.Unix(), j.Action)
			jobs = append(jobs, j)
		}
	}
	log.Info("schedule: ran", "acted", len(jobs) > 0, "received", d.Received, "awaiting", len(d.Awaiting))
	return jobs, nil, nil
}

// runPerChat evaluates a for_each: chat rule for every known chat, with
// the chat's state at the scheduled time.
func (s *Scheduler) runPerChat(ctx context.Context, runs Runs, rs *engine.RuleSet, r *engine.Rule, d *engine.Digest,
	until, now time.Time, team func(string) bool, log *slog.Logger,
) ([]store.ChatRun, error) {
	stored, err := runs.AllChats(ctx, digestLimit)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(stored))
	for id := range stored {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []store.ChatRun
	for i, id := range ids {
		var c engine.Conversation
		if json.Unmarshal(stored[id], &c) != nil {
			continue
		}
		st := c.State(until)
		plan, err := rs.PlanScheduledChat(r, st, d, engine.PlanOptions{Now: now, IsTeam: team})
		if err != nil || len(plan.Matches) == 0 {
			continue
		}
		run := store.ChatRun{ChatID: id, Episode: st.Episode(), EventID: store.ChatRunEventID(until, i)}
		for _, m := range plan.Matches {
			for _, j := range dispatch.Jobs(rs, log, run.EventID, m, now) {
				j.IdempotencyKey = fmt.Sprintf("run:%s:%s:%s:%d", r.Name, id, run.Episode, j.Action)
				run.Jobs = append(run.Jobs, j)
			}
		}
		out = append(out, run)
	}
	return out, nil
}

// digest sums up the traffic received in (since, until] and the chats
// waiting for a reply at until.
func digest(ctx context.Context, runs Runs, since, until time.Time, team func(string) bool) (*engine.Digest, error) {
	d := &engine.Digest{Since: since.UTC(), Until: until.UTC()}
	events, err := runs.EventsReceived(ctx, since, until, digestLimit)
	if err != nil {
		return nil, err
	}
	chats := map[string]bool{}
	for _, e := range events {
		if e.DuplicateOf != 0 {
			continue
		}
		ev, err := engine.Decode(e.Body)
		if err != nil {
			continue
		}
		if engine.FromTeam(ev, team) {
			d.Sent++
		} else {
			d.Received++
		}
		if ev.ChatID != "" {
			chats[ev.ChatID] = true
		}
	}
	d.Chats = len(chats)
	stored, err := runs.AllChats(ctx, digestLimit)
	if err != nil {
		return nil, err
	}
	for _, data := range stored {
		var c engine.Conversation
		if json.Unmarshal(data, &c) != nil {
			continue
		}
		if st := c.State(until); st.AwaitingReply {
			d.Awaiting = append(d.Awaiting, st)
		}
	}
	slices.SortFunc(d.Awaiting, func(a, b engine.ChatState) int { return a.AwaitingSince.Compare(b.AwaitingSince) })
	return d, nil
}
