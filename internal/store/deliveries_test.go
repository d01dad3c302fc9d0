package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// jobsT stores one event with one job per rule (all due at t0) and returns
// the store, opened with its clock at t0.
func jobsT(t *testing.T, dir string, rules ...string) *Store {
	t.Helper()
	opt := quiet
	opt.Now = func() time.Time { return t0 }
	s := openT(t, dir, opt)
	id := appendT(t, s, "{}", "").ID
	b := Batch{Cursor: id, Version: "v1"}
	for _, r := range rules {
		j := httpJob(id, r, 0)
		j.Destination = "dest-" + r
		b.Matches = append(b.Matches, Match{EventID: id, Rule: r})
		b.Jobs = append(b.Jobs, j)
	}
	require.NoError(t, s.Commit(t.Context(), b))
	return s
}

type attemptRow struct {
	Outcome   string
	Snoozed   bool
	Status    int
	Error     string
	LatencyUS int64
}

func attemptsT(t *testing.T, s *Store, jobID int64) []attemptRow {
	t.Helper()
	rows, err := s.rdb.Query(`SELECT outcome, snoozed, status, error, latency_us FROM attempts WHERE job_id = ? ORDER BY id`, jobID)
	require.NoError(t, err)
	defer rows.Close()
	var out []attemptRow
	for rows.Next() {
		var a attemptRow
		require.NoError(t, rows.Scan(&a.Outcome, &a.Snoozed, &a.Status, &a.Error, &a.LatencyUS))
		out = append(out, a)
	}
	require.NoError(t, rows.Err())
	return out
}

func TestFinish_Outcomes(t *testing.T) {
	later := t0.Add(time.Minute)
	tests := []struct {
		name         string
		result       Result
		wantState    string
		wantAttempts int
		// claimableAt is when the job is due again; zero: never.
		claimableAt time.Time
	}{
		{"done", Result{Outcome: OutcomeDone, Status: 200, Latency: 3 * time.Millisecond},
			StateDone, 1, time.Time{}},
		{"retry counts an attempt", Result{Outcome: OutcomeRetry, Status: 503, Error: "service unavailable", RetryAt: later},
			StateRetry, 1, later},
		{"snooze does not count", Result{Outcome: OutcomeRetry, Status: 429, Error: "rate limited", RetryAt: later, Snooze: true},
			StateRetry, 0, later},
		{"dead letter keeps the reason", Result{Outcome: OutcomeDead, Status: 404, Error: "destination crm: 404 not found"},
			StateDead, 1, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := jobsT(t, t.TempDir(), "r")
			jobs, err := s.Claim(t.Context(), t0, 10, time.Minute)
			require.NoError(t, err)
			require.Len(t, jobs, 1)
			require.Zero(t, jobs[0].Attempts)
			require.Equal(t, t0.Add(time.Minute), jobs[0].LeaseUntil)

			require.NoError(t, s.Finish(t.Context(), jobs[0].ID, tt.result))

			ds, err := s.ListDeliveries(t.Context(), Filter{})
			require.NoError(t, err)
			require.Len(t, ds, 1)
			d := ds[0]
			require.Equal(t, tt.wantState, d.State)
			require.Equal(t, tt.wantAttempts, d.Attempts)
			require.Equal(t, tt.result.Error, d.LastError)
			require.Equal(t, tt.result.Status, d.LastStatus)
			require.True(t, d.LeaseUntil.IsZero(), "Finish ends the lease")

			require.Equal(t, []attemptRow{{
				Outcome: string(tt.result.Outcome), Snoozed: tt.result.Snooze, Status: tt.result.Status,
				Error: tt.result.Error, LatencyUS: tt.result.Latency.Microseconds(),
			}}, attemptsT(t, s, d.ID))

			// Due again exactly at claimableAt, and not before.
			probe := tt.claimableAt
			if probe.IsZero() {
				probe = t0.Add(24 * time.Hour)
			}
			jobs, err = s.Claim(t.Context(), probe.Add(-time.Millisecond), 10, time.Minute)
			require.NoError(t, err)
			require.Empty(t, jobs)
			jobs, err = s.Claim(t.Context(), probe, 10, time.Minute)
			require.NoError(t, err)
			if tt.claimableAt.IsZero() {
				require.Empty(t, jobs)
				require.ErrorIs(t, s.Finish(t.Context(), d.ID, Result{Outcome: OutcomeDone}), ErrNotFound,
					"a finished job cannot be finished again")
			} else {
				require.Len(t, jobs, 1)
				require.Equal(t, tt.wantAttempts, jobs[0].Attempts)
			}
		})
	}
}

func TestFinish_RejectsBadResults(t *testing.T) {
	s := jobsT(t, t.TempDir(), "r")
	jobs, err := s.Claim(t.Context(), t0, 1, time.Minute)
	require.NoError(t, err)
	id := jobs[0].ID
	for _, r := range []Result{
		{},
		{Outcome: "maybe"},
		{Outcome: OutcomeRetry},
		{Outcome: OutcomeDone, Snooze: true},
	} {
		require.Error(t, s.Finish(t.Context(), id, r), "%+v", r)
	}
	require.ErrorIs(t, s.Finish(t.Context(), id+100, Result{Outcome: OutcomeDone}), ErrNotFound)
	require.Empty(t, attemptsT(t, s, id))
	require.NoError(t, s.Err())

	long := string(make([]byte, 10000))
	require.NoError(t, s.Finish(t.Context(), id, Result{Outcome: OutcomeDead, Error: long}))
	require.Len(t, attemptsT(t, s, id)[0].Error, maxText)
}

func TestClaim_LeasesAndOrder(t *testing.T) {
	dir := t.TempDir()
	s := jobsT(t, dir, "a", "b", "c")
	lease := 30 * time.Second

	_, err := s.Claim(t.Context(), t0, 0, lease)
	require.Error(t, err)
	_, err = s.Claim(t.Context(), t0, 1, 0)
	require.Error(t, err)

	first, err := s.Claim(t.Context(), t0, 2, lease)
	require.NoError(t, err)
	require.Len(t, first, 2)
	require.Less(t, first[0].ID, first[1].ID, "oldest due first")

	rest, err := s.Claim(t.Context(), t0.Add(lease-time.Millisecond), 10, lease)
	require.NoError(t, err)
	require.Len(t, rest, 1, "leased jobs are not claimed twice")
	require.Equal(t, "c", rest[0].Rule)

	// The worker holding the first two dies; after a restart they are claimable
	// once their lease lapsed, not before.
	require.NoError(t, s.Close())
	opt := quiet
	opt.Now = func() time.Time { return t0 }
	s = openT(t, dir, opt)
	again, err := s.Claim(t.Context(), t0.Add(lease-time.Millisecond), 10, lease)
	require.NoError(t, err)
	require.Empty(t, again)
	again, err = s.Claim(t.Context(), t0.Add(lease), 10, lease)
	require.NoError(t, err)
	require.Len(t, again, 2)
	require.Equal(t, []int64{first[0].ID, first[1].ID}, []int64{again[0].ID, again[1].ID})
	require.Equal(t, first[0].IdempotencyKey, again[0].IdempotencyKey, "a re-sent job keeps its idempotency key")
}

func TestReleaseLeases_ResumesAtOnceAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s := jobsT(t, dir, "a", "b")
	claimed, err := s.Claim(t.Context(), t0, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	require.NoError(t, s.Finish(t.Context(), claimed[1].ID, Result{Outcome: OutcomeDone}))
	require.NoError(t, s.Close())

	s = openT(t, dir, quiet)
	n, err := s.ReleaseLeases(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the unfinished job was leased")
	again, err := s.Claim(t.Context(), t0, 10, time.Hour)
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, claimed[0].ID, again[0].ID)
}

func TestRequeue_DeadLetters(t *testing.T) {
	s := jobsT(t, t.TempDir(), "a", "b", "c", "d")
	jobs, err := s.Claim(t.Context(), t0, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 4)
	byRule := map[string]int64{}
	for _, j := range jobs {
		byRule[j.Rule] = j.ID
		if j.Rule == "d" {
			require.NoError(t, s.Finish(t.Context(), j.ID, Result{Outcome: OutcomeDone, Status: 200}))
			continue
		}
		require.NoError(t, s.Finish(t.Context(), j.ID, Result{Outcome: OutcomeDead, Status: 400, Error: "bad request " + j.Rule}))
	}

	dead, err := s.ListDeliveries(t.Context(), Filter{State: StateDead})
	require.NoError(t, err)
	require.Len(t, dead, 3)
	require.Equal(t, "bad request c", dead[0].LastError)
	page, err := s.ListDeliveries(t.Context(), Filter{State: StateDead, BeforeID: dead[0].ID, Limit: 1})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, dead[1].ID, page[0].ID)
	one, err := s.ListDeliveries(t.Context(), Filter{Rule: "a", Destination: "dest-a", Kind: "http", EventID: jobs[0].EventID})
	require.NoError(t, err)
	require.Len(t, one, 1)
	_, err = s.ListDeliveries(t.Context(), Filter{State: "lost"})
	require.ErrorContains(t, err, "unknown state")

	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Dead)
	require.Zero(t, st.Pending)

	// Requeue one by id; the rest by filter.
	require.NoError(t, s.Requeue(t.Context(), byRule["a"]))
	require.ErrorIs(t, s.Requeue(t.Context(), byRule["a"]), ErrNotFound, "already pending")
	require.ErrorIs(t, s.Requeue(t.Context(), 999), ErrNotFound)
	n, err := s.RequeueDead(t.Context(), Filter{Rule: "b"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = s.RequeueDead(t.Context(), Filter{State: StatePending})
	require.Error(t, err)
	n, err = s.RequeueDead(t.Context(), Filter{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = s.RequeueDead(t.Context(), Filter{})
	require.NoError(t, err)
	require.Zero(t, n)

	st, err = s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Pending)
	require.Zero(t, st.Dead)

	// Replaying a delivered job works too.
	require.NoError(t, s.Requeue(t.Context(), byRule["d"]))
	again, err := s.Claim(t.Context(), t0, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, again, 4)
	for _, j := range again {
		require.Zero(t, j.Attempts, fmt.Sprintf("job %s attempts reset", j.Rule))
	}
}

// TestOnlyAppendsAreFsynced: an Append commits with synchronous=FULL;
// delivery bookkeeping, whose loss is redone, commits without an fsync.
func TestOnlyAppendsAreFsynced(t *testing.T) {
	s := jobsT(t, t.TempDir(), "a")
	stats := func() Stats {
		st, err := s.Stats(t.Context())
		require.NoError(t, err)
		return st
	}
	before := stats()
	jobs, err := s.Claim(t.Context(), t0, 10, time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Finish(t.Context(), jobs[0].ID, Result{Outcome: OutcomeDone}))
	mid := stats()
	require.Equal(t, before.Commits+2, mid.Commits)
	require.Equal(t, before.Durable, mid.Durable, "claim and finish are not fsynced")

	_, err = s.Append(t.Context(), NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	_, err = s.Quarantine(t.Context(), []byte("x"), "bad")
	require.NoError(t, err)
	after := stats()
	require.Equal(t, mid.Durable+2, after.Durable, "appends and quarantine are fsynced")
}

// TestRequeue_RestartsTheAgeClock: a replayed dead letter is judged by the
// age limit from its replay, not from its first enqueue.
func TestRequeue_RestartsTheAgeClock(t *testing.T) {
	now := t0
	opt := quiet
	opt.Now = func() time.Time { return now }
	dir := t.TempDir()
	s := jobsT(t, dir, "a")
	require.NoError(t, s.Close())
	s = openT(t, dir, opt)
	jobs, err := s.Claim(t.Context(), now, 1, time.Minute)
	require.NoError(t, err)
	queued := jobs[0].QueuedAt
	require.False(t, queued.IsZero())
	require.NoError(t, s.Finish(t.Context(), jobs[0].ID, Result{Outcome: OutcomeDead, Error: "too old"}))

	now = now.Add(100 * time.Hour)
	require.NoError(t, s.Requeue(t.Context(), jobs[0].ID))
	again, err := s.Claim(t.Context(), now, 1, time.Minute)
	require.NoError(t, err)
	require.Len(t, again, 1)
	require.Equal(t, now, again[0].QueuedAt)
	require.True(t, again[0].QueuedAt.After(queued))
}

// TestLeanNotFoundDoesNotAbortTheBatch: a Finish that finds no job (a lean
// request, run without a savepoint) fails alone; the appends batched with
// it commit.
func TestLeanNotFoundDoesNotAbortTheBatch(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i := range 200 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.Append(t.Context(), NewEvent{Body: []byte(`{}`)})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			err := s.Finish(t.Context(), int64(100000+i), Result{Outcome: OutcomeDone})
			if !errors.Is(err, ErrNotFound) {
				errs <- fmt.Errorf("finish: %v", err)
				return
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(200), st.Events)
	require.Less(t, st.Commits, int64(400), "the requests were batched")
	require.NoError(t, s.Err())
}
