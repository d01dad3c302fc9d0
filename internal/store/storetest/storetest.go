// Package storetest is the store contract: one suite of tests that every
// store.Backend must pass (the SQLite store and the PostgreSQL store run
// it from their own tests), so that the service behaves the same on both.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// Open returns a new, empty store for one test (closed by the test's
// cleanup) that is ready to Commit.
type Open func(t *testing.T) store.Backend

// Run runs the contract against the stores open makes.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Backend)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"Dedupe", testDedupe},
		{"ConcurrentAppends", testConcurrentAppends},
		{"CommitEvaluates", testCommitEvaluates},
		{"CommitRefusesOutsiders", testCommitRefusesOutsiders},
		{"State", testState},
		{"Deliveries", testDeliveries},
		{"ClaimLease", testClaimLease},
		{"Quarantine", testQuarantine},
		{"Retention", testRetention},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// unevaluated is what the evaluator reads next: the events after the
// cursor (SQLite), or the events not yet marked evaluated (a store whose
// ids are not commit-ordered).
func unevaluated(t *testing.T, s store.Backend) []store.Event {
	t.Helper()
	ctx := context.Background()
	if u, ok := s.(interface {
		Unevaluated(ctx context.Context, max int) ([]store.Event, error)
	}); ok {
		evs, err := u.Unevaluated(ctx, 1000)
		require.NoError(t, err)
		return evs
	}
	c, err := s.Cursor(ctx)
	require.NoError(t, err)
	evs, err := s.ReadEvents(ctx, c, 1000)
	require.NoError(t, err)
	return evs
}

// batchOf is the batch that evaluates evs, as the dispatcher builds it.
func batchOf(evs []store.Event) store.Batch {
	b := store.Batch{Version: "v1"}
	for _, e := range evs {
		b.Events = append(b.Events, e.ID)
		b.Cursor = max(b.Cursor, e.ID)
	}
	return b
}

func appendN(t *testing.T, s store.Backend, n int, prefix string) []store.Appended {
	t.Helper()
	var out []store.Appended
	for i := range n {
		a, err := s.Append(context.Background(), store.NewEvent{Body: fmt.Appendf(nil, `{"n":"%s%d"}`, prefix, i), DedupeKey: fmt.Sprintf("%s%d", prefix, i)})
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

func testAppendAndRead(t *testing.T, s store.Backend) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	body := []byte("{\"x\":\"\\u00e9\\n\"}\x00raw")
	a, err := s.Append(ctx, store.NewEvent{Body: body, DedupeKey: "k1\x00received", ReceivedAt: at})
	require.NoError(t, err)
	require.False(t, a.Duplicate)
	require.Equal(t, a.ID, a.Row)
	b, err := s.Append(ctx, store.NewEvent{Body: []byte{}})
	require.NoError(t, err)
	require.Greater(t, b.ID, a.ID, "ids grow")

	e, err := s.Event(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, body, e.Body, "the body is kept byte-exact")
	require.Equal(t, at.Truncate(time.Millisecond), e.ReceivedAt)
	require.Equal(t, "k1\x00received", e.DedupeKey, "a key may hold NUL bytes")
	e, err = s.Event(ctx, b.ID)
	require.NoError(t, err)
	require.NotNil(t, e.Body)
	require.Empty(t, e.Body)
	_, err = s.Event(ctx, b.ID+1000)
	require.ErrorIs(t, err, store.ErrNotFound)

	evs, err := s.ReadEvents(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, []int64{a.ID, b.ID}, []int64{evs[0].ID, evs[1].ID})
	evs, err = s.ReadEvents(ctx, a.ID, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	got, err := s.EventsReceived(ctx, at.Add(-time.Second), at, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, a.ID, got[0].ID)
}

func testDedupe(t *testing.T, s store.Backend) {
	ctx := context.Background()
	first, err := s.Append(ctx, store.NewEvent{Body: []byte(`{"a":1}`), DedupeKey: "same"})
	require.NoError(t, err)
	again, err := s.Append(ctx, store.NewEvent{Body: []byte(`{"a":1}`), DedupeKey: "same"})
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Equal(t, first.ID, again.ID, "a duplicate names the original")
	require.NotEqual(t, first.Row, again.Row, "and is stored as its own row")
	e, err := s.Event(ctx, again.Row)
	require.NoError(t, err)
	require.Equal(t, first.ID, e.DuplicateOf)
	e, err = s.Event(ctx, first.ID)
	require.NoError(t, err)
	require.Zero(t, e.DuplicateOf)

	// Concurrent copies of one message: exactly one original.
	var wg sync.WaitGroup
	res := make([]store.Appended, 16)
	for i := range res {
		wg.Go(func() {
			a, err := s.Append(ctx, store.NewEvent{Body: []byte(`{"b":1}`), DedupeKey: "race"})
			require.NoError(t, err)
			res[i] = a
		})
	}
	wg.Wait()
	originals := 0
	for _, a := range res {
		if !a.Duplicate {
			originals++
		}
		require.Equal(t, res[0].ID, a.ID, "every copy names the same original")
	}
	require.Equal(t, 1, originals)

	n, err := s.Prune(ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "keys younger than the dedupe window are kept")
}

func testConcurrentAppends(t *testing.T, s store.Backend) {
	ctx := context.Background()
	var (
		mu  sync.Mutex
		ids []int64
		wg  sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				a, err := s.Append(ctx, store.NewEvent{Body: fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i), DedupeKey: fmt.Sprintf("%d-%d", w, i)})
				require.NoError(t, err)
				mu.Lock()
				ids = append(ids, a.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(ids)
	require.Len(t, slices.Compact(ids), 200, "every append has its own id")
	require.Len(t, unevaluated(t, s), 200)
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 200, st.Events)
}

func testCommitEvaluates(t *testing.T, s store.Backend) {
	ctx := context.Background()
	appendN(t, s, 3, "e")
	evs := unevaluated(t, s)
	require.Len(t, evs, 3)
	b := batchOf(evs[:2])
	b.Matches = []store.Match{{EventID: evs[0].ID, Rule: "r"}, {EventID: evs[1].ID, Rule: "r", Throttled: true}}
	b.Jobs = []store.NewJob{{EventID: evs[0].ID, Rule: "r", Action: 0, Kind: "http", Destination: "sink", Request: []byte(`{}`)}}
	require.NoError(t, s.Commit(ctx, b))
	rest := unevaluated(t, s)
	require.Len(t, rest, 1, "the evaluated events are not read again")
	require.Equal(t, evs[2].ID, rest[0].ID)
	c, err := s.Cursor(ctx)
	require.NoError(t, err)
	require.Equal(t, evs[1].ID, c)
	ds, err := s.ListDeliveries(ctx, store.Filter{})
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, fmt.Sprintf("%d:r:0", evs[0].ID), ds[0].IdempotencyKey)
	require.Equal(t, "v1", ds[0].RulesetVersion)
	require.Equal(t, store.StatePending, ds[0].State)
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Pending)
	require.EqualValues(t, 1, st.Throttled)

	// A time-driven batch (no events) and the last event.
	require.NoError(t, s.Commit(ctx, store.Batch{Cursor: c, Version: "v1"}))
	require.NoError(t, s.Commit(ctx, batchOf(rest)))
	require.Empty(t, unevaluated(t, s))
}

func testCommitRefusesOutsiders(t *testing.T, s store.Backend) {
	ctx := context.Background()
	appendN(t, s, 2, "o")
	evs := unevaluated(t, s)
	b := batchOf(evs[:1])
	b.Matches = []store.Match{{EventID: evs[1].ID, Rule: "r"}}
	require.Error(t, s.Commit(ctx, b), "a match of an event outside the batch")
	require.Len(t, unevaluated(t, s), 2, "nothing was written")
	b = batchOf(evs[:1])
	b.Jobs = []store.NewJob{{EventID: evs[0].ID, Rule: "", Kind: "http"}}
	require.Error(t, s.Commit(ctx, b), "a job without a rule")
	require.Len(t, unevaluated(t, s), 2)
}

func testState(t *testing.T, s store.Backend) {
	ctx := context.Background()
	appendN(t, s, 2, "s")
	evs := unevaluated(t, s)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	b := batchOf(evs)
	b.State = store.StateChanges{
		Team:      []string{"+100", "+200"},
		Chats:     []store.ChatRow{{ID: "c1", State: []byte(`{"chat_id":"c1"}`), Added: []time.Time{t0, t0.Add(time.Minute), t0}}},
		Throttles: []store.ThrottleRow{{Rule: "th", Key: "k", Acts: []time.Time{t0}}},
		Joined: []store.GroupJoin{
			{GroupRef: store.GroupRef{Rule: "g", Key: "k", Start: t0}, EventID: evs[0].ID, Opened: true},
			{GroupRef: store.GroupRef{Rule: "g", Key: "k", Start: t0}, EventID: evs[1].ID},
		},
		Timers:    []store.TimerRow{{Rule: "late", EventID: evs[0].ID, Due: t0.Add(time.Hour)}},
		Schedules: []store.ScheduleRow{{Rule: "daily", At: t0, Ran: true}},
	}
	require.NoError(t, s.Commit(ctx, b))

	l, err := s.LoadState(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"+100", "+200"}, l.Team)
	require.Equal(t, []store.ThrottleRow{{Rule: "th", Key: "k", Acts: []time.Time{t0}}}, l.Throttles)
	require.Len(t, l.Groups, 1)
	require.Equal(t, evs[0].ID, l.Groups[0].EventID)
	require.Equal(t, []int64{evs[0].ID, evs[1].ID}, []int64{l.Groups[0].Events[0].ID, l.Groups[0].Events[1].ID}, "in the order they joined")
	require.Equal(t, map[string]time.Time{"daily": t0}, l.Schedules)

	chats, err := s.Chats(ctx, []string{"c1", "nope"})
	require.NoError(t, err)
	require.Len(t, chats, 1)
	require.JSONEq(t, `{"chat_id":"c1"}`, string(chats["c1"].State))
	require.Equal(t, []time.Time{t0, t0, t0.Add(time.Minute)}, chats["c1"].Pending)
	all, err := s.AllChats(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, chats, all)

	next, err := s.NextTimer(ctx)
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Hour), next)
	due, err := s.DueTimers(ctx, t0, 10)
	require.NoError(t, err)
	require.Empty(t, due)
	due, err = s.DueTimers(ctx, t0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, evs[0].ID, due[0].Event.ID)
	require.Equal(t, "late", due[0].Rule)

	// The second batch answers one pending time, closes the group, runs the check.
	c, err := s.Cursor(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, store.Batch{Cursor: c, Version: "v1", State: store.StateChanges{
		Chats:   []store.ChatRow{{ID: "c1", State: []byte(`{"chat_id":"c1","n":2}`), Removed: []time.Time{t0}}},
		Closed:  []store.GroupRef{{Rule: "g", Key: "k", Start: t0}},
		Checked: []int64{due[0].ID},
	}}))
	chats, err = s.Chats(ctx, []string{"c1"})
	require.NoError(t, err)
	require.Equal(t, []time.Time{t0, t0.Add(time.Minute)}, chats["c1"].Pending, "one of the two equal times answered")
	l, err = s.LoadState(ctx)
	require.NoError(t, err)
	require.Empty(t, l.Groups)
	due, err = s.DueTimers(ctx, t0.Add(2*time.Hour), 10)
	require.NoError(t, err)
	require.Empty(t, due, "the check ran")
}

func testDeliveries(t *testing.T, s store.Backend) {
	ctx := context.Background()
	appendN(t, s, 1, "d")
	evs := unevaluated(t, s)
	b := batchOf(evs)
	now := time.Now()
	for i := range 4 {
		b.Jobs = append(b.Jobs, store.NewJob{EventID: evs[0].ID, Rule: "r", Action: i, Kind: "http", Destination: fmt.Sprintf("d%d", i%2), Request: []byte(`{}`)})
	}
	b.Jobs = append(b.Jobs, store.NewJob{EventID: evs[0].ID, Rule: "bad", Action: 0, Kind: "http", Destination: "d0", Failed: "no template"})
	require.NoError(t, s.Commit(ctx, b))

	jobs, err := s.Claim(ctx, now.Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 4, "a dead letter is never claimed")
	again, err := s.Claim(ctx, now.Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Empty(t, again, "leased jobs are not claimed twice")

	errs, err := s.FinishMany(ctx, []store.Finished{
		{ID: jobs[0].ID, Result: store.Result{Outcome: store.OutcomeDone, Status: 200}},
		{ID: jobs[1].ID, Result: store.Result{Outcome: store.OutcomeRetry, RetryAt: now.Add(time.Hour), Error: "503"}},
		{ID: jobs[2].ID, Result: store.Result{Outcome: store.OutcomeDead, Error: "gone"}},
		{ID: jobs[3].ID, Result: store.Result{Outcome: store.OutcomeRetry}}, // invalid: no RetryAt
		{ID: jobs[0].ID + 1000, Result: store.Result{Outcome: store.OutcomeDone}},
	})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.NoError(t, errs[2])
	require.Error(t, errs[3])
	require.ErrorIs(t, errs[4], store.ErrNotFound)
	errs, err = s.FinishMany(ctx, []store.Finished{{ID: jobs[0].ID, Result: store.Result{Outcome: store.OutcomeDone}}})
	require.NoError(t, err)
	require.ErrorIs(t, errs[0], store.ErrNotFound, "a job already done")

	dead, err := s.ListDeliveries(ctx, store.Filter{State: store.StateDead})
	require.NoError(t, err)
	require.Len(t, dead, 2)
	require.Equal(t, "no template", dead[0].LastError, "newest first")
	require.Equal(t, "gone", dead[1].LastError)
	retry, err := s.ListDeliveries(ctx, store.Filter{State: store.StateRetry})
	require.NoError(t, err)
	require.Len(t, retry, 1)
	require.Equal(t, 1, retry[0].Attempts)
	require.Equal(t, "503", retry[0].LastError)
	_, err = s.ListDeliveries(ctx, store.Filter{State: "nope"})
	require.Error(t, err)

	n, err := s.ReleaseDestination(ctx, "d1", now.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, 1, n, "the retry to d1 is due at once")

	require.NoError(t, s.Requeue(ctx, jobs[0].ID), "a done job is replayed")
	require.ErrorIs(t, s.Requeue(ctx, jobs[1].ID), store.ErrNotFound, "a pending job is not")
	n, err = s.RequeueDead(ctx, store.Filter{Destination: "d0"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	st, err := s.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 5, st.Pending, "done replayed, retry, the invalid outcome's, two dead replayed")
	require.Zero(t, st.Dead)
	_, err = s.ReleaseLeases(ctx)
	require.NoError(t, err)
	jobs, err = s.Claim(ctx, now.Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 5, "every pending job, the lease of the invalid outcome's job released")
}

func testClaimLease(t *testing.T, s store.Backend) {
	ctx := context.Background()
	appendN(t, s, 1, "l")
	evs := unevaluated(t, s)
	b := batchOf(evs)
	b.Jobs = []store.NewJob{{EventID: evs[0].ID, Rule: "r", Kind: "log", Request: []byte(`{}`)}}
	require.NoError(t, s.Commit(ctx, b))
	now := time.Now().Add(time.Second)
	jobs, err := s.Claim(ctx, now, 1, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.WithinDuration(t, now.Add(time.Minute), jobs[0].LeaseUntil, time.Millisecond)
	jobs, err = s.Claim(ctx, now.Add(30*time.Second), 1, time.Minute)
	require.NoError(t, err)
	require.Empty(t, jobs)
	jobs, err = s.Claim(ctx, now.Add(time.Minute+time.Second), 1, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "a lapsed lease is claimed again")

	// Claims at once from many goroutines never hand one job out twice.
	c, err := s.Cursor(ctx)
	require.NoError(t, err)
	appendN(t, s, 1, "m")
	evs = unevaluated(t, s)
	b = batchOf(evs)
	b.Cursor = max(b.Cursor, c)
	for i := range 40 {
		b.Jobs = append(b.Jobs, store.NewJob{EventID: evs[0].ID, Rule: "many", Action: i, Kind: "log", Request: []byte(`{}`)})
	}
	require.NoError(t, s.Commit(ctx, b))
	var (
		mu   sync.Mutex
		seen = map[int64]int{}
		wg   sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for {
				js, err := s.Claim(ctx, now, 3, time.Minute)
				require.NoError(t, err)
				if len(js) == 0 {
					return
				}
				mu.Lock()
				for _, j := range js {
					seen[j.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, 40)
	for id, n := range seen {
		require.Equal(t, 1, n, "job %d claimed %d times", id, n)
	}
}

func testQuarantine(t *testing.T, s store.Backend) {
	ctx := context.Background()
	id, err := s.Quarantine(ctx, []byte("not json \x00"), "syntax error at 1:1")
	require.NoError(t, err)
	qs, err := s.ListQuarantine(ctx, 0)
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.Equal(t, 10, qs[0].Size)
	require.Nil(t, qs[0].Body)
	q, err := s.GetQuarantine(ctx, id)
	require.NoError(t, err)
	require.Equal(t, []byte("not json \x00"), q.Body)
	require.Equal(t, "syntax error at 1:1", q.Reason)
	require.NoError(t, s.DeleteQuarantine(ctx, id))
	require.ErrorIs(t, s.DeleteQuarantine(ctx, id), store.ErrNotFound)
	_, err = s.GetQuarantine(ctx, id)
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testRetention(t *testing.T, s store.Backend) {
	ctx := context.Background()
	old := time.Now().Add(-48 * time.Hour)
	var ids []int64
	for i := range 5 {
		a, err := s.Append(ctx, store.NewEvent{Body: []byte(`{}`), ReceivedAt: old, DedupeKey: fmt.Sprint("r", i)})
		require.NoError(t, err)
		ids = append(ids, a.ID)
	}
	young, err := s.Append(ctx, store.NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	p, err := s.PruneOld(ctx, time.Now().Add(-24*time.Hour), 2)
	require.NoError(t, err)
	require.Zero(t, p.Events, "events not yet evaluated are kept")
	evs := unevaluated(t, s)
	b := batchOf(evs)
	b.Jobs = []store.NewJob{{EventID: ids[0], Rule: "r", Kind: "log", Request: []byte(`{}`)}}
	b.State.Timers = []store.TimerRow{{Rule: "t", EventID: ids[1], Due: time.Now().Add(time.Hour)}}
	require.NoError(t, s.Commit(ctx, b))
	p, err = s.PruneOld(ctx, time.Now().Add(-24*time.Hour), 2)
	require.NoError(t, err)
	require.EqualValues(t, 3, p.Events, "old evaluated events nothing waits for")
	for _, id := range []int64{ids[0], ids[1], young.ID} {
		_, err := s.Event(ctx, id)
		require.NoError(t, err, "event %d is kept", id)
	}
	_, err = s.Event(ctx, ids[2])
	require.ErrorIs(t, err, store.ErrNotFound)
}
