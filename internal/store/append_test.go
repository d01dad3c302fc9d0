package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"modernc.org/sqlite"
)

func TestAppend_ConcurrentIsGroupCommitted(t *testing.T) {
	const goroutines, each = 200, 5
	s := openT(t, t.TempDir(), quiet)
	before, err := s.Stats(t.Context())
	require.NoError(t, err)

	var wg sync.WaitGroup
	ids := make([][]int64, goroutines)
	errs := make([]error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for n := range each {
				a, err := s.Append(t.Context(), NewEvent{
					Body:      fmt.Appendf(nil, "g%d-n%d", g, n),
					DedupeKey: fmt.Sprintf("g%d-n%d", g, n),
				})
				if err != nil {
					errs[g] = err
					return
				}
				if a.Duplicate || a.Row != a.ID {
					errs[g] = fmt.Errorf("unique key appended as %+v", a)
					return
				}
				ids[g] = append(ids[g], a.ID)
			}
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	seen := map[int64]bool{}
	for _, l := range ids {
		for _, id := range l {
			require.False(t, seen[id], "id %d returned twice", id)
			seen[id] = true
		}
	}
	require.Len(t, seen, goroutines*each)

	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	commits := st.Commits - before.Commits
	require.EqualValues(t, goroutines*each, st.Events)
	require.EqualValues(t, goroutines*each*len("gX-nX")+(goroutines-10)*each+(goroutines-100)*each, st.BacklogBytes)
	t.Logf("%d appends in %d commits (%.1f per commit)", goroutines*each, commits, float64(goroutines*each)/float64(commits))
	require.Less(t, commits, int64(goroutines*each/4), "appends were not batched")

	evs, err := s.ReadEvents(t.Context(), 0, goroutines*each+1)
	require.NoError(t, err)
	require.Len(t, evs, goroutines*each)
	for _, e := range evs {
		require.Equal(t, e.DedupeKey, string(e.Body))
	}
}

func TestAppend_Dedupe(t *testing.T) {
	t.Run("same key returns the original and keeps a copy", func(t *testing.T) {
		s := openT(t, t.TempDir(), quiet)
		first := appendT(t, s, "first", "k1")
		require.Equal(t, Appended{ID: first.ID, Row: first.ID}, first)
		again := appendT(t, s, "second copy", "k1")
		require.Equal(t, Appended{ID: first.ID, Duplicate: true, Row: again.Row}, again)
		require.Greater(t, again.Row, first.ID)
		third := appendT(t, s, "third copy", "k1")
		require.Equal(t, Appended{ID: first.ID, Duplicate: true, Row: third.Row}, third, "a copy never becomes the original")
		require.Greater(t, third.Row, again.Row)
		other := appendT(t, s, "other", "k2")
		require.False(t, other.Duplicate)
		require.Equal(t, other.ID, other.Row)

		evs, err := s.ReadEvents(t.Context(), 0, 10)
		require.NoError(t, err)
		require.Equal(t, []eventRow{
			{first.ID, "first", "k1", 0},
			{again.Row, "second copy", "k1", first.ID},
			{third.Row, "third copy", "k1", first.ID},
			{other.ID, "other", "k2", 0},
		}, rowsOf(evs))
		st, err := s.Stats(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, 4, st.Events, "copies are events")
		require.EqualValues(t, len("first")+len("second copy")+len("third copy")+len("other"), st.BacklogBytes,
			"copies count toward the disk budget")
	})

	t.Run("empty key never dedupes", func(t *testing.T) {
		s := openT(t, t.TempDir(), quiet)
		a, b := appendT(t, s, "same", ""), appendT(t, s, "same", "")
		require.False(t, a.Duplicate || b.Duplicate)
		require.NotEqual(t, a.ID, b.ID)
		evs, err := s.ReadEvents(t.Context(), 0, 10)
		require.NoError(t, err)
		require.Equal(t, []eventRow{{a.ID, "same", "", 0}, {b.ID, "same", "", 0}}, rowsOf(evs))
	})

	t.Run("across reopen", func(t *testing.T) {
		dir := t.TempDir()
		s := openT(t, dir, quiet)
		first := appendT(t, s, "m", "3EB0|received|1@c.us")
		require.NoError(t, s.Close())
		s = openT(t, dir, quiet)
		again := appendT(t, s, "m again", "3EB0|received|1@c.us")
		require.Equal(t, Appended{ID: first.ID, Duplicate: true, Row: again.Row}, again)
		require.NoError(t, s.Close())

		s = openT(t, dir, quiet)
		evs, err := s.ReadEvents(t.Context(), 0, 10)
		require.NoError(t, err)
		require.Equal(t, []eventRow{
			{first.ID, "m", "3EB0|received|1@c.us", 0},
			{again.Row, "m again", "3EB0|received|1@c.us", first.ID},
		}, rowsOf(evs))
	})

	t.Run("inside one batch", func(t *testing.T) {
		// Hold the writer while ten Appends of one key queue up; they must
		// then commit together: one original and nine copies of it.
		const n = 10
		opt, g := withGate(quiet)
		s := openT(t, t.TempDir(), opt)
		g.hold(t, s)
		commits := s.commits.Load()

		results := make([]Appended, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = s.Append(t.Context(), NewEvent{Body: fmt.Appendf(nil, "dup%d", i), DedupeKey: "same"})
			})
		}
		g.release(t, s, n)
		wg.Wait()
		require.NoError(t, errors.Join(errs...))

		var original int64
		rows := map[int64]bool{}
		for _, r := range results {
			require.Equal(t, results[0].ID, r.ID)
			require.False(t, rows[r.Row], "row %d returned twice", r.Row)
			rows[r.Row] = true
			if !r.Duplicate {
				require.Zero(t, original, "two originals")
				original = r.ID
				require.Equal(t, r.ID, r.Row)
			}
		}
		require.NotZero(t, original)
		require.Equal(t, commits+2, s.commits.Load(), "the held batch, then one batch for all ten")
		st, err := s.Stats(t.Context())
		require.NoError(t, err)
		require.EqualValues(t, 1+n, st.Events)
		require.EqualValues(t, len("held")+n*len("dupX"), st.BacklogBytes, "duplicates keep their reservation")

		evs, err := s.ReadEvents(t.Context(), 0, 100)
		require.NoError(t, err)
		require.Len(t, evs, 1+n)
		for _, e := range evs[1:] {
			require.True(t, rows[e.ID], "event %d was not returned by any Append", e.ID)
			if e.ID == original {
				require.Zero(t, e.DuplicateOf)
			} else {
				require.Equal(t, original, e.DuplicateOf, "event %d", e.ID)
			}
		}
	})
}

// eventRow is the comparable part of an Event.
type eventRow struct {
	ID          int64
	Body        string
	DedupeKey   string
	DuplicateOf int64
}

func rowsOf(evs []Event) []eventRow {
	out := make([]eventRow, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventRow{e.ID, string(e.Body), e.DedupeKey, e.DuplicateOf})
	}
	return out
}

// gate holds the writer inside one batch's commit so that tests can queue
// requests and have them committed as one batch.
type gate struct {
	holding       atomic.Bool
	entered, open chan struct{}
}

// withGate returns opt with a gate on its commits, and the gate.
func withGate(opt Options) (Options, *gate) {
	g := &gate{entered: make(chan struct{}), open: make(chan struct{})}
	opt.MaxWait = 10 * time.Second // collect until every queued request is in
	opt.beforeCommit = func() error {
		if g.holding.CompareAndSwap(true, false) {
			close(g.entered)
			<-g.open
		}
		return nil
	}
	return opt, g
}

// hold blocks the writer in the commit of an Append.
func (g *gate) hold(t *testing.T, s *Store) {
	t.Helper()
	g.holding.Store(true)
	go func() { _, _ = s.Append(context.Background(), NewEvent{Body: []byte("held")}) }()
	<-g.entered
}

// release waits until n requests are queued and lets the writer go on.
func (g *gate) release(t *testing.T, s *Store, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.queued.Load() == n }, 5*time.Second, time.Millisecond)
	close(g.open)
}

func TestBatch_FailedRequestIsIsolated(t *testing.T) {
	opt, g := withGate(quiet)
	s := openT(t, t.TempDir(), opt)
	g.hold(t, s)
	commits := s.commits.Load()

	var (
		wg        sync.WaitGroup
		appended  Appended
		appendErr error
		commitErr error
		qID       int64
		qErr      error
	)
	wg.Go(func() { appended, appendErr = s.Append(t.Context(), NewEvent{Body: []byte("kept")}) })
	require.Eventually(t, func() bool { return s.queued.Load() == 1 }, 5*time.Second, time.Millisecond)
	wg.Go(func() {
		// Valid cursor, but the second job collides with the first after the
		// match and first job were written: the savepoint must undo them.
		commitErr = s.Commit(t.Context(), Batch{Cursor: 1, Matches: []Match{{EventID: 1, Rule: "r"}},
			Jobs: []NewJob{httpJob(1, "r", 0), httpJob(1, "r", 0)}})
	})
	require.Eventually(t, func() bool { return s.queued.Load() == 2 }, 5*time.Second, time.Millisecond)
	wg.Go(func() { qID, qErr = s.Quarantine(t.Context(), []byte("{"), "unexpected EOF") })
	g.release(t, s, 3)
	wg.Wait()

	require.Equal(t, commits+2, s.commits.Load(), "all three shared one batch")
	require.ErrorContains(t, commitErr, "UNIQUE")
	require.NoError(t, appendErr)
	require.NoError(t, qErr)
	require.NoError(t, s.Err())

	evs, err := s.ReadEvents(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, appended.ID, evs[1].ID)
	_, err = s.GetQuarantine(t.Context(), qID)
	require.NoError(t, err)
	ds, err := s.ListDeliveries(t.Context(), Filter{})
	require.NoError(t, err)
	require.Empty(t, ds)
	var matches int
	require.NoError(t, s.rdb.QueryRow(`SELECT COUNT(*) FROM matches`).Scan(&matches))
	require.Zero(t, matches)
	c, err := s.Cursor(t.Context())
	require.NoError(t, err)
	require.Zero(t, c)
}

func TestPrune_ForgetsOnlyOldKeys(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	opt := quiet
	opt.Now = func() time.Time { return now }
	s := openT(t, t.TempDir(), opt)

	old := appendT(t, s, "old", "k-old")
	now = now.Add(8 * 24 * time.Hour)
	recent := appendT(t, s, "recent", "k-recent")

	n, err := s.Prune(t.Context(), now)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "keys inside the window survive even Prune(now)")
	n, err = s.Prune(t.Context(), now.Add(-DedupeWindow))
	require.NoError(t, err)
	require.Zero(t, n)

	dup := appendT(t, s, "recent", "k-recent")
	require.Equal(t, Appended{ID: recent.ID, Duplicate: true, Row: dup.Row}, dup)
	again := appendT(t, s, "old", "k-old")
	require.False(t, again.Duplicate, "a key past the window may be stored again")
	require.Greater(t, again.ID, old.ID)
}

func TestAppend_DiskBudget(t *testing.T) {
	dir := t.TempDir()
	opt := quiet
	opt.MaxBytes = 2500
	s := openT(t, dir, opt)
	body := strings.Repeat("x", 1000)

	a1 := appendT(t, s, body, "1")
	appendT(t, s, body, "2")
	_, err := s.Append(t.Context(), NewEvent{Body: []byte(body), DedupeKey: "3"})
	require.ErrorIs(t, err, ErrFull)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2000, st.BacklogBytes)
	require.EqualValues(t, 2, st.Events)

	// Small bodies still fit; a duplicate's copy costs like any event, and a
	// duplicate beyond the budget is refused too.
	appendT(t, s, "tiny", "4")
	dup := appendT(t, s, "dupe", "1")
	require.Equal(t, Appended{ID: a1.ID, Duplicate: true, Row: dup.Row}, dup)
	_, err = s.Append(t.Context(), NewEvent{Body: []byte(body), DedupeKey: "1"})
	require.ErrorIs(t, err, ErrFull)
	st, err = s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2008, st.BacklogBytes)
	require.EqualValues(t, 4, st.Events)

	// Dispatching frees the budget.
	require.NoError(t, s.Commit(t.Context(), Batch{Cursor: a1.ID + 1}))
	st, err = s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 8, st.BacklogBytes)
	appendT(t, s, body, "3")
	appendT(t, s, body, "5")
	_, err = s.Append(t.Context(), NewEvent{Body: []byte(body)})
	require.ErrorIs(t, err, ErrFull)

	// The backlog, copies included, is measured again at Open.
	require.NoError(t, s.Close())
	s = openT(t, dir, opt)
	st, err = s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2008, st.BacklogBytes)
	_, err = s.Append(t.Context(), NewEvent{Body: []byte(body)})
	require.ErrorIs(t, err, ErrFull)
}

func TestAppend_FailedCommitFailsStore(t *testing.T) {
	errFsync := errors.New("fsync: input/output error")
	tests := []struct {
		name string
		// breakIt makes every later commit fail.
		breakIt func(t *testing.T, s *Store, broken *atomic.Bool)
		wantMsg string
	}{{
		name: "sqlite commit hook aborts COMMIT",
		breakIt: func(t *testing.T, s *Store, _ *atomic.Bool) {
			err := s.wconn.Raw(func(dc any) error {
				h, ok := dc.(sqlite.HookRegisterer)
				if !ok {
					return fmt.Errorf("%T registers no hooks", dc)
				}
				h.RegisterCommitHook(func() int32 { return 1 })
				return nil
			})
			require.NoError(t, err)
		},
		wantMsg: "commit write batch",
	}, {
		name:    "fsync error before COMMIT",
		breakIt: func(_ *testing.T, _ *Store, broken *atomic.Bool) { broken.Store(true) },
		wantMsg: errFsync.Error(),
	}, {
		name: "writer connection lost",
		breakIt: func(t *testing.T, s *Store, _ *atomic.Bool) {
			require.NoError(t, s.wconn.Close())
		},
		wantMsg: "begin write batch",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var broken atomic.Bool
			opt := quiet
			opt.beforeCommit = func() error {
				if broken.Load() {
					return errFsync
				}
				return nil
			}
			s := openT(t, dir, opt)
			kept := appendT(t, s, "before", "k0")
			tt.breakIt(t, s, &broken)

			const n = 20
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Go(func() {
					a, err := s.Append(t.Context(), NewEvent{Body: fmt.Appendf(nil, "lost %d", i), DedupeKey: fmt.Sprint(i)})
					if err == nil {
						err = fmt.Errorf("append %d reported success (id %d) on a failing store", i, a.ID)
						errs[i] = err
						return
					}
					if !errors.Is(err, ErrFailed) {
						errs[i] = fmt.Errorf("want ErrFailed, got %w", err)
					}
				})
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))

			_, err := s.Append(t.Context(), NewEvent{Body: []byte("later")})
			require.ErrorIs(t, err, ErrFailed)
			require.ErrorContains(t, err, tt.wantMsg)
			require.ErrorIs(t, s.Err(), ErrFailed)
			require.ErrorIs(t, s.Commit(t.Context(), Batch{Cursor: kept.ID}), ErrFailed)
			st, err := s.Stats(t.Context())
			require.NoError(t, err)
			require.True(t, st.Failed)
			require.Zero(t, st.BacklogBytes-int64(len("before")), "failed appends release their reservation")
			require.NoError(t, s.Close())

			// Nothing that failed reached the file.
			s = openT(t, dir, quiet)
			evs, err := s.ReadEvents(t.Context(), 0, 100)
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, kept.ID, evs[0].ID)
			appendT(t, s, "after restart", "k1")
		})
	}
}

// TestAppend_CopiesInOneBatch: copies of one message appended at once (one
// group commit) give one original and duplicates of it, whatever batch
// they share.
func TestAppend_CopiesInOneBatch(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	var wg sync.WaitGroup
	out := make([]Appended, 40)
	for i := range out {
		wg.Go(func() {
			key := fmt.Sprint("k", i%4)
			a, err := s.Append(t.Context(), NewEvent{Body: []byte(`{}`), DedupeKey: key})
			require.NoError(t, err)
			out[i] = a
		})
	}
	wg.Wait()
	originals := map[int64]bool{}
	for _, a := range out {
		if !a.Duplicate {
			require.Equal(t, a.ID, a.Row)
			originals[a.ID] = true
		}
	}
	require.Len(t, originals, 4, "one original per key")
	for _, a := range out {
		require.True(t, originals[a.ID], "every copy points at its original")
	}
	evs, err := s.ReadEvents(t.Context(), 0, 100)
	require.NoError(t, err)
	require.Len(t, evs, 40)
	dups := 0
	for _, e := range evs {
		if e.DuplicateOf != 0 {
			dups++
			require.True(t, originals[e.DuplicateOf])
		}
	}
	require.Equal(t, 36, dups)
}
