package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Groups is what flushing grouped rules needs of the store.
type Groups interface {
	DueGroups(ctx context.Context, now time.Time, max int) ([]store.GroupDue, error)
	FlushGroup(ctx context.Context, id, eventID int64, version string, jobs []store.NewJob) error
}

// flushGroups renders every group whose window has closed, once, with all
// its messages as `group`.
func (s *Scheduler) flushGroups(ctx context.Context, rs *engine.RuleSet, now time.Time, team func(string) bool) (int, bool, error) {
	gs, ok := s.opt.Store.(Groups)
	if !ok {
		return 0, false, nil
	}
	due, err := gs.DueGroups(ctx, now, 64)
	if err != nil {
		return 0, false, err
	}
	n, anyJobs := 0, false
	for _, g := range due {
		log := s.opt.Logger.With("rule", g.Rule, "group", g.ID, "messages", len(g.EventIDs))
		var (
			first *engine.Event
			items []engine.GroupItem
			jobs  []store.NewJob
		)
		for _, id := range g.EventIDs {
			e, err := s.opt.Store.Event(ctx, id)
			if err != nil {
				return n, anyJobs, err
			}
			ev, err := engine.Decode(e.Body)
			if err != nil {
				continue
			}
			if first == nil {
				first = ev
			}
			items = append(items, engine.ItemOf(ev))
		}
		slices.SortStableFunc(items, func(a, b engine.GroupItem) int { return a.Time.Compare(b.Time) })
		r := rs.Rule(g.Rule)
		var eventID int64
		if len(g.EventIDs) > 0 {
			eventID = g.EventIDs[0]
		}
		if r == nil || first == nil {
			log.Info("schedule: a group's rule is gone from the rules (or its messages unreadable); closing it without acting")
		} else {
			plan := rs.PlanGroup(r, first, items, engine.PlanOptions{Now: now, IsTeam: team})
			for _, m := range plan.Matches {
				for _, j := range dispatch.Jobs(rs, log, eventID, m, now) {
					j.IdempotencyKey = fmt.Sprintf("group:%d:%s:%d", g.ID, g.Rule, j.Action)
					jobs = append(jobs, j)
				}
			}
			log.Info("schedule: group closed; acting once for its messages")
		}
		if err := gs.FlushGroup(ctx, g.ID, eventID, rs.Version, jobs); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, anyJobs, err
		}
		n++
		anyJobs = anyJobs || len(jobs) > 0
	}
	return n, anyJobs, nil
}
