package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPruneOld builds a store with one event in each situation, moves the
// clock 60 days on and prunes with a 30-day window in batches of 2: only
// the old events nothing depends on go, with their matches, finished jobs
// and attempts; quarantine and runs go by age. A second pass finds nothing.
func TestPruneOld(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&t0)
	opt := quiet
	opt.Now = func() time.Time { return *clock.Load() }
	s := openT(t, t.TempDir(), opt)
	ctx := t.Context()

	appendAt := func(name string, at time.Time) int64 {
		a, err := s.Append(ctx, NewEvent{Body: []byte(`{"n":"` + name + `"}`), DedupeKey: name, ReceivedAt: at})
		require.NoError(t, err)
		return a.ID
	}
	later := t0.Add(60 * 24 * time.Hour)
	ev := map[string]int64{}
	for _, name := range []string{"done", "pending", "dead", "timer", "group", "plain"} {
		ev[name] = appendAt(name, t0)
	}
	ev["young"] = appendAt("young", later.Add(-time.Hour))
	ev["undispatched"] = appendAt("undispatched", t0)

	b := Batch{Cursor: ev["young"], Version: "v1"}
	for _, name := range []string{"done", "pending", "dead", "timer", "group", "plain", "young"} {
		b.Matches = append(b.Matches, Match{EventID: ev[name], Rule: "r"})
	}
	for _, name := range []string{"done", "pending", "dead"} {
		b.Jobs = append(b.Jobs, NewJob{EventID: ev[name], Rule: "r", Kind: "log", Destination: "d", Request: []byte(`{}`)})
	}
	b.State.Timers = []TimerRow{{Rule: "later", EventID: ev["timer"], Due: later.Add(time.Hour)}}
	b.State.Joined = []GroupJoin{{GroupRef: GroupRef{Rule: "g", Key: "k", Start: t0}, EventID: ev["group"], Opened: true}}
	b.State.Schedules = []ScheduleRow{{Rule: "daily", At: t0, Ran: true}}
	require.NoError(t, s.Commit(ctx, b))

	jobs, err := s.Claim(ctx, t0.Add(time.Minute), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	for _, j := range jobs {
		switch j.EventID {
		case ev["done"]:
			require.NoError(t, s.Finish(ctx, j.ID, Result{Outcome: OutcomeDone, At: t0}))
		case ev["dead"]:
			require.NoError(t, s.Finish(ctx, j.ID, Result{Outcome: OutcomeDead, At: t0, Error: "410"}))
		}
	}
	_, err = s.Quarantine(ctx, []byte("old"), "bad")
	require.NoError(t, err)

	clock.Store(&later)
	_, err = s.Quarantine(ctx, []byte("new"), "bad")
	require.NoError(t, err)
	before, err := s.Stats(ctx)
	require.NoError(t, err)

	got, err := s.PruneOld(ctx, later.Add(-30*24*time.Hour), 2)
	require.NoError(t, err)
	require.Equal(t, Pruned{Events: 3, Matches: 3, Jobs: 2, Attempts: 2, Quarantine: 1, Runs: 1}, got)

	var left []string
	for name, id := range ev {
		var n int
		require.NoError(t, s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE id = ?`, id).Scan(&n))
		if n == 1 {
			left = append(left, name)
		}
	}
	require.ElementsMatch(t, []string{"pending", "timer", "group", "young", "undispatched"}, left)
	for _, tc := range []struct {
		query string
		want  int
	}{
		{`SELECT COUNT(*) FROM matches`, 4},
		{fmt.Sprintf(`SELECT COUNT(*) FROM jobs WHERE event_id = %d AND state = 'pending'`, ev["pending"]), 1},
		{`SELECT COUNT(*) FROM jobs`, 1},
		{`SELECT COUNT(*) FROM attempts`, 0},
		{`SELECT COUNT(*) FROM quarantine`, 1},
		{`SELECT COUNT(*) FROM runs`, 0},
		{`SELECT COUNT(*) FROM timers`, 1},
		{`SELECT COUNT(*) FROM open_group_items`, 1},
		{`SELECT COUNT(*) FROM dedupe`, len(ev)}, // dedupe keys follow the dedupe window (Prune)
	} {
		var n int
		require.NoError(t, s.rdb.QueryRowContext(ctx, tc.query).Scan(&n))
		require.Equal(t, tc.want, n, tc.query)
	}
	after, err := s.Stats(ctx)
	require.NoError(t, err)
	require.Equal(t, before.Events-3, after.Events)
	require.Equal(t, before.Pending, after.Pending)

	again, err := s.PruneOld(ctx, later.Add(-30*24*time.Hour), 2)
	require.NoError(t, err)
	require.Zero(t, again.Total())
	require.Positive(t, s.Bytes())
}
