package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
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
	got.Pages = 0 // TestPruneOldVacuums
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

// TestPruneOldVacuums: a store created by this version reclaims the pages
// retention frees (auto_vacuum=INCREMENTAL), so the file shrinks.
func TestPruneOldVacuums(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	ctx := t.Context()
	var mode int
	require.NoError(t, s.rdb.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode))
	require.Equal(t, 2, mode, "a new file has auto_vacuum=INCREMENTAL")

	old := time.Now().Add(-90 * 24 * time.Hour)
	const n = 3000
	require.NoError(t, s.write(ctx, func(w *wtx) error {
		if _, err := w.exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
			INSERT INTO events (received_at, body, size) SELECT ?, zeroblob(4096), 4096 FROM seq`, n, ms(old)); err != nil {
			return err
		}
		_, err := w.exec(`UPDATE cursors SET position = (SELECT MAX(id) FROM events) WHERE name = ?`, dispatchCursor)
		return err
	}, nil))
	pages := func() int64 {
		var p int64
		require.NoError(t, s.rdb.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&p))
		return p
	}
	full := pages()
	got, err := s.PruneOld(ctx, time.Now().Add(-30*24*time.Hour), 0)
	require.NoError(t, err)
	require.Equal(t, int64(n), got.Events)
	require.Positive(t, got.Pages)
	require.Less(t, pages(), full/4, "the file kept its pages: %d of %d", pages(), full)
	var free int64
	require.NoError(t, s.rdb.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free))
	require.Zero(t, free)
}

// TestPruneOldOlderFile: a file created without auto_vacuum (before this
// version) keeps it; pruning works and gives no pages back.
func TestPruneOldOlderFile(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, FileName), "journal_mode(WAL)"))
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE before_auto_vacuum (x)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	s := openT(t, dir, quiet)
	var mode int
	require.NoError(t, s.rdb.QueryRowContext(t.Context(), `PRAGMA auto_vacuum`).Scan(&mode))
	require.Equal(t, 0, mode)
	_, err = s.Append(t.Context(), NewEvent{Body: []byte(`{}`), ReceivedAt: time.Now().Add(-90 * 24 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, s.Commit(t.Context(), Batch{Cursor: 1, Version: "v"}))
	got, err := s.PruneOld(t.Context(), time.Now().Add(-30*24*time.Hour), 0)
	require.NoError(t, err)
	require.Equal(t, Pruned{Events: 1}, got)
}
