// Package schedule runs what is due in time rather than on arrival:
// scheduled rules (`schedule:`), each run recorded once under its rule and
// scheduled time, groups (`group:`) whose window has closed, and the
// delayed checks of rules with `after:`. When a
// check is due, its rule is
// evaluated again for its message with the conversation state of that
// moment, through the same RuleSet.Plan as everything else, and acts only
// if it still holds. Checks live in the store, so they survive restarts,
// and each acts at most once.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Store is what the scheduler uses of the store.
type Store interface {
	DueTimers(ctx context.Context, now time.Time, max int) ([]store.Timer, error)
	NextTimer(ctx context.Context) (time.Time, error)
	FireTimer(ctx context.Context, id int64, version string, jobs []store.NewJob) error
	Event(ctx context.Context, id int64) (store.Event, error)
	Chats(ctx context.Context, ids []string) (map[string][]byte, error)
	TeamPhones(ctx context.Context) ([]string, error)
}

// Options configure a Scheduler. Store and Rules are required.
type Options struct {
	Store Store
	// Rules returns the running rules.
	Rules func() *engine.RuleSet
	// Now returns the time; nil means time.Now.
	Now func() time.Time
	// Poll bounds the wait between looks at the store; 0 means 1s.
	Poll   time.Duration
	Logger *slog.Logger
	// OnJobs is called after a check enqueued jobs (to wake delivery).
	OnJobs func()
}

// Scheduler fires due checks. Create it with New, run it with Run.
type Scheduler struct {
	opt  Options
	wake chan struct{}
}

// New returns a Scheduler.
func New(o Options) *Scheduler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Scheduler{opt: o, wake: make(chan struct{}, 1)}
}

// Wake makes the scheduler look at the store now (a new check may be due
// sooner than it planned). It never blocks.
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires due checks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.opt.Store == nil || s.opt.Rules == nil {
		return errors.New("schedule: Store and Rules are required")
	}
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.opt.Logger.Error("schedule: firing due checks failed; retrying", "err", err)
		}
		wait := s.opt.Poll
		if next, err := s.opt.Store.NextTimer(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(s.opt.Now()), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Once fires the checks and runs the scheduled rules due now, and returns
// how many it fired and ran.
func (s *Scheduler) Once(ctx context.Context) (int, error) {
	rs := s.opt.Rules()
	if rs == nil {
		return 0, nil
	}
	now := s.opt.Now()
	team, err := s.teamCheck(ctx, rs)
	if err != nil {
		return 0, err
	}
	ran, ranJobs, err := s.runSchedules(ctx, rs, now, team)
	if err != nil {
		return ran, err
	}
	flushed, flushJobs, err := s.flushGroups(ctx, rs, now, team)
	ran += flushed
	if err != nil {
		return ran, err
	}
	if (ranJobs || flushJobs) && s.opt.OnJobs != nil {
		s.opt.OnJobs()
	}
	due, err := s.opt.Store.DueTimers(ctx, now, 64)
	if err != nil || len(due) == 0 {
		return ran, err
	}
	fired, anyJobs := ran, false
	for _, t := range due {
		jobs, err := s.check(ctx, rs, t, now, team)
		if err != nil {
			return fired, err
		}
		if err := s.opt.Store.FireTimer(ctx, t.ID, rs.Version, jobs); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fired, err
		}
		fired++
		anyJobs = anyJobs || len(jobs) > 0
	}
	if anyJobs && s.opt.OnJobs != nil {
		s.opt.OnJobs()
	}
	return fired, nil
}

// check evaluates one due check and returns its jobs (none if the rule no
// longer holds, or no longer exists).
func (s *Scheduler) check(ctx context.Context, rs *engine.RuleSet, t store.Timer, now time.Time, team func(string) bool) ([]store.NewJob, error) {
	log := s.opt.Logger.With("event", t.EventID, "rule", t.Rule)
	if rs.Rule(t.Rule) == nil {
		log.Info("schedule: the rule of a due check is gone from the rules; dropping the check")
		return nil, nil
	}
	e, err := s.opt.Store.Event(ctx, t.EventID)
	if err != nil {
		return nil, err
	}
	ev, err := engine.Decode(e.Body)
	if err != nil {
		log.Error("schedule: the event of a due check cannot be decoded; dropping the check", "err", err)
		return nil, nil
	}
	var chat *engine.ChatState
	if ev.ChatID != "" {
		stored, err := s.opt.Store.Chats(ctx, []string{ev.ChatID})
		if err != nil {
			return nil, err
		}
		var c engine.Conversation
		if data, ok := stored[ev.ChatID]; ok {
			if err := json.Unmarshal(data, &c); err != nil {
				log.Warn("schedule: conversation state unreadable", "err", err)
			}
		}
		st := c.State(now)
		chat = &st
	}
	plan, err := rs.Plan(ev, engine.PlanOptions{Now: now, Chat: chat, IsTeam: team, Recheck: t.Rule})
	if err != nil {
		return nil, err
	}
	var jobs []store.NewJob
	for _, m := range plan.Matches {
		jobs = append(jobs, dispatch.Jobs(rs, log, t.EventID, m, now)...)
	}
	if len(plan.Matches) > 0 {
		log.Info("schedule: delayed rule still holds; acting", "due", t.DueAt, "jobs", len(jobs))
	}
	return jobs, nil
}

func (s *Scheduler) teamCheck(ctx context.Context, rs *engine.RuleSet) (func(string) bool, error) {
	phones, err := s.opt.Store.TeamPhones(ctx)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(phones))
	for _, p := range phones {
		set[p] = true
	}
	return func(p string) bool {
		n := engine.NormalizePhone(p)
		return set[n] || rs.IsTeam(n)
	}, nil
}
