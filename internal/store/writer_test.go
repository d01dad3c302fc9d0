package store

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// commitLog records Options.OnCommit calls.
type commitLog struct {
	mu   sync.Mutex
	seen []CommitInfo
}

func (l *commitLog) hook(c CommitInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, c)
}

func (l *commitLog) all() []CommitInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]CommitInfo(nil), l.seen...)
}

func TestAppend_GroupCommittedOnOneProc(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const goroutines, each = 64, 10
	var log commitLog
	opt := quiet
	opt.OnCommit = log.hook
	s := openT(t, t.TempDir(), opt)

	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for n := range each {
				if _, err := s.Append(t.Context(), NewEvent{Body: []byte("x"), DedupeKey: fmt.Sprintf("%d-%d", g, n)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var commits, appends int
	for _, c := range log.all() {
		require.Equal(t, c.Requests, c.Durable, "only appends were written")
		commits++
		appends += c.Durable
	}
	require.Equal(t, goroutines*each, appends)
	t.Logf("%d appends in %d commits on one P", appends, commits)
	require.Less(t, commits, appends/4, "appends were not batched on one P")
}

func TestAppend_LoneAppendDoesNotWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openT(t, t.TempDir(), quiet)
		for i := range 3 {
			start := time.Now()
			appendT(t, s, "lone", fmt.Sprint(i))
			require.Zero(t, time.Since(start), "a lone Append waited on a timer")
		}
	})
}

func TestAppend_WaitAfterConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log commitLog
		opt := quiet
		opt.OnCommit = log.hook
		s := openT(t, t.TempDir(), opt)
		// A burst of concurrent appends, then a lone one: the writer may
		// wait for the concurrency it saw, but not beyond MaxWait.
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() { appendT(t, s, "burst", fmt.Sprint(i)) })
		}
		wg.Wait()
		start := time.Now()
		appendT(t, s, "lone", "lone")
		require.LessOrEqual(t, time.Since(start), 2*time.Millisecond)
		start = time.Now()
		appendT(t, s, "lone", "lone-2")
		require.Zero(t, time.Since(start), "the writer kept waiting after concurrency ended")
	})
}

func TestBatch_OtherRequestsAreNotPushedBackByAppends(t *testing.T) {
	var log commitLog
	opt := jobsOpt()
	opt.MaxBatch = 4
	opt.OnCommit = log.hook
	opt, g := withGate(opt)
	opt.MaxWait = -1
	s := openT(t, t.TempDir(), opt)
	seedJobsT(t, s, 1)
	g.hold(t, s)
	held := len(log.all())

	const appends = 12 // three full batches
	var wg sync.WaitGroup
	for i := range appends {
		wg.Go(func() { appendT(t, s, "flood", fmt.Sprint(i)) })
	}
	require.Eventually(t, func() bool { return s.queued.Load() == appends }, 5*time.Second, time.Millisecond)
	var (
		jobs     []Job
		claimErr error
	)
	wg.Go(func() { jobs, claimErr = s.Claim(context.Background(), t0, 1, time.Minute) })
	g.release(t, s, appends+1)
	wg.Wait()
	require.NoError(t, claimErr)
	require.Len(t, jobs, 1)

	after := log.all()[held+1:] // the held batch commits first
	require.NotEmpty(t, after)
	require.Equal(t, 1, after[0].Requests-after[0].Durable,
		"the claim rides in the first batch after the held one: %+v", after)
	for _, c := range after {
		require.LessOrEqual(t, c.Requests, 4)
	}
}

// jobsOpt is quiet with its clock at t0.
func jobsOpt() Options {
	opt := quiet
	opt.Now = func() time.Time { return t0 }
	return opt
}

// seedJobsT stores one event with n jobs, all due at t0.
func seedJobsT(t testing.TB, s *Store, n int) {
	t.Helper()
	id := appendT(t, s, "{}", "").ID
	b := Batch{Cursor: id, Version: "v1", Matches: []Match{{EventID: id, Rule: "r"}}}
	for i := range n {
		b.Jobs = append(b.Jobs, httpJob(id, "r", i))
	}
	require.NoError(t, s.Commit(context.Background(), b))
}

func TestFinishMany_RecordsEachInOneRequest(t *testing.T) {
	var log commitLog
	opt := jobsOpt()
	opt.OnCommit = log.hook
	s := openT(t, t.TempDir(), opt)
	seedJobsT(t, s, 3)
	jobs, err := s.Claim(t.Context(), t0, 3, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	before := len(log.all())

	later := t0.Add(time.Minute)
	errs, err := s.FinishMany(t.Context(), []Finished{
		{jobs[0].ID, Result{Outcome: OutcomeDone, Status: 200}},
		{jobs[1].ID, Result{Outcome: OutcomeRetry, Status: 503, Error: "down", RetryAt: later}},
		{jobs[2].ID, Result{Outcome: OutcomeRetry}}, // no RetryAt: refused
		{jobs[0].ID, Result{Outcome: OutcomeDone}},  // already done
		{jobs[2].ID + 100, Result{Outcome: OutcomeDead}},
	})
	require.NoError(t, err)
	require.Len(t, errs, 5)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Error(t, errs[2])
	require.NotErrorIs(t, errs[2], ErrNotFound)
	require.ErrorIs(t, errs[3], ErrNotFound)
	require.ErrorIs(t, errs[4], ErrNotFound)
	commits := log.all()[before:]
	require.Len(t, commits, 1)
	require.Equal(t, CommitInfo{Requests: 1, Durable: 0, Took: commits[0].Took}, commits[0])

	require.Equal(t, []attemptRow{{Outcome: "done", Status: 200}}, attemptsT(t, s, jobs[0].ID))
	require.Equal(t, []attemptRow{{Outcome: "retry", Status: 503, Error: "down"}}, attemptsT(t, s, jobs[1].ID))
	require.Empty(t, attemptsT(t, s, jobs[2].ID))
	ds, err := s.ListDeliveries(t.Context(), Filter{})
	require.NoError(t, err)
	states := map[int64]string{}
	for _, d := range ds {
		states[d.ID] = d.State
	}
	require.Equal(t, map[int64]string{jobs[0].ID: StateDone, jobs[1].ID: StateRetry, jobs[2].ID: StatePending}, states)

	// Nothing valid: no write at all.
	errs, err = s.FinishMany(t.Context(), []Finished{{jobs[2].ID, Result{}}})
	require.NoError(t, err)
	require.Error(t, errs[0])
	require.Len(t, log.all(), before+1)
}
