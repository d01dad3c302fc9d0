package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// ConsoleStore is a store with the web console's reads (the methods of
// console.Store beyond store.Backend's).
type ConsoleStore interface {
	store.Backend
	ListEvents(ctx context.Context, f store.EventFilter) (store.EventPage, error)
	EventMatches(ctx context.Context, id int64) ([]store.EventMatch, error)
	Attempts(ctx context.Context, jobID int64) ([]store.Attempt, error)
	PendingChecks(ctx context.Context, eventID int64, max int) ([]store.Check, error)
	ChatsAwaiting(ctx context.Context, max int) ([]store.Awaiting, error)
	ReadSeries(ctx context.Context, start time.Time, step time.Duration, n int, rules []string, matchesFrom time.Time) (store.Series, error)
	RecentOutcomes(ctx context.Context, since time.Time) (map[string]*store.DestinationOutcomes, error)
	CountDeliveries(ctx context.Context, f store.Filter) (int64, error)
	FirstJobAt(ctx context.Context, t time.Time) (int64, error)
}

// OpenConsole returns a new, empty store for one test, ready to Commit,
// whose clock (the time jobs are created at) is now.
type OpenConsole func(t *testing.T, now func() time.Time) ConsoleStore

// RunConsole runs the console's reads against the stores open makes.
func RunConsole(t *testing.T, open OpenConsole) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenConsole)
	}{
		{"ListEvents", testListEvents},
		{"ReadSeries", testReadSeries},
		{"FirstJobAt", testFirstJobAt},
		{"DeliveryReads", testDeliveryReads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// consoleStart is when consoleEvents' first event is received.
var consoleStart = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// badBody says the i-th event of consoleEvents has a body whose fields
// cannot be read: not JSON at 7, not UTF-8 at 11.
func badBody(i int) bool { return i == 7 || i == 11 }

// consoleEvents appends n events, one a minute from consoleStart, in order
// (as ingest does): chat i%3, sent when i%4 == 3, an image when i%5 == 0,
// with a text naming i; bodies that are not JSON or not UTF-8 at badBody.
// It evaluates them in one batch, rule "even" matching the even ones, and
// returns their ids (event i is ids[i]).
func consoleEvents(t *testing.T, s store.Backend, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	ids := make([]int64, n)
	for i := range n {
		dir, typ := "received", "chat"
		if i%4 == 3 {
			dir = "sent"
		}
		if i%5 == 0 {
			typ = "image"
		}
		body := fmt.Appendf(nil, `{"chat_id":"c%d","chat_title":"Chat %d","direction":%q,"message":{"type":%q,"text":"text 100%% number %d"}}`, i%3, i%3, dir, typ, i)
		switch i {
		case 7:
			body = []byte("not json")
		case 11:
			body = []byte("\xff\xfe{\"chat_id\":\"c1\"}")
		}
		a, err := s.Append(ctx, store.NewEvent{Body: body, ReceivedAt: consoleStart.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err, "an append is never refused for its body (event %d)", i)
		ids[i] = a.ID
	}
	b := batchOf(unevaluated(t, s))
	for i, id := range ids {
		if i%2 == 0 {
			b.Matches = append(b.Matches, store.Match{EventID: id, Rule: "even"})
		}
	}
	require.NoError(t, s.Commit(ctx, b))
	return ids
}

func testListEvents(t *testing.T, open OpenConsole) {
	s := open(t, time.Now)
	ctx := context.Background()
	const n = 60
	evIDs := consoleEvents(t, s, n)
	ids := func(f store.EventFilter) []int64 {
		t.Helper()
		p, err := s.ListEvents(ctx, f)
		require.NoError(t, err)
		var out []int64
		for _, e := range p.Events {
			out = append(out, e.ID)
		}
		return out
	}
	want := func(keep func(i int) bool, max int) []int64 {
		var out []int64
		for i := n - 1; i >= 0 && len(out) < max; i-- {
			if keep(i) {
				out = append(out, evIDs[i])
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    store.EventFilter
		keep func(i int) bool
	}{
		{"all", store.EventFilter{Limit: 100}, func(int) bool { return true }},
		{"chat", store.EventFilter{ChatID: "c1", Limit: 100}, func(i int) bool { return i%3 == 1 && !badBody(i) }},
		{"direction", store.EventFilter{Direction: "sent", Limit: 100}, func(i int) bool { return i%4 == 3 && !badBody(i) }},
		{"type", store.EventFilter{Type: "image", Limit: 100}, func(i int) bool { return i%5 == 0 }},
		{"text", store.EventFilter{Text: "NUMBER 1", Limit: 100}, func(i int) bool { return fmt.Sprint(i)[0] == '1' && !badBody(i) }},
		{"text is not a pattern", store.EventFilter{Text: "100%", Limit: 100}, func(i int) bool { return !badBody(i) }},
		{"no such text", store.EventFilter{Text: "_", Limit: 100}, func(int) bool { return false }},
		{"text in the title", store.EventFilter{Text: "chat 2", Limit: 100}, func(i int) bool { return i%3 == 2 && !badBody(i) }},
		{"since", store.EventFilter{Since: consoleStart.Add(50 * time.Minute), Limit: 100}, func(i int) bool { return i >= 50 }},
		{"until", store.EventFilter{Until: consoleStart.Add(10 * time.Minute), Limit: 100}, func(i int) bool { return i < 10 }},
		{"before", store.EventFilter{BeforeID: evIDs[30], Limit: 5}, func(i int) bool { return i < 30 }},
		{"rule", store.EventFilter{Rule: "even", Limit: 100}, func(i int) bool { return i%2 == 0 }},
		{"rule and before", store.EventFilter{Rule: "even", BeforeID: evIDs[20], Limit: 3}, func(i int) bool { return i%2 == 0 && i < 20 }},
		{"rule and time", store.EventFilter{Rule: "even", Since: consoleStart.Add(10 * time.Minute), Until: consoleStart.Add(20 * time.Minute), Limit: 100}, func(i int) bool {
			return i%2 == 0 && i >= 10 && i < 20
		}},
		{"no such rule", store.EventFilter{Rule: "odd", Limit: 100}, func(int) bool { return false }},
		{"combined", store.EventFilter{ChatID: "c0", Type: "image", Since: consoleStart.Add(20 * time.Minute), Limit: 100}, func(i int) bool {
			return i%3 == 0 && i%5 == 0 && i >= 20
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, want(tt.keep, tt.f.Limit), ids(tt.f))
		})
	}

	p, err := s.ListEvents(ctx, store.EventFilter{Limit: 10})
	require.NoError(t, err)
	assert.True(t, p.More)
	assert.False(t, p.TextLimited)
	assert.Equal(t, store.EventRow{ID: evIDs[59], ReceivedAt: consoleStart.Add(59 * time.Minute), ChatID: "c2", ChatTitle: "Chat 2",
		Direction: "sent", Type: "chat", Text: "text 100% number 59"}, p.Events[0])
	assert.Equal(t, []string{"even"}, p.Events[1].Rules)
	p, err = s.ListEvents(ctx, store.EventFilter{BeforeID: evIDs[12], Limit: 2})
	require.NoError(t, err)
	require.Len(t, p.Events, 2)
	assert.Equal(t, store.EventRow{ID: evIDs[11], ReceivedAt: consoleStart.Add(11 * time.Minute)}, p.Events[0], "a body not UTF-8 is listed, its fields empty")
	ev, err := s.Event(ctx, evIDs[11])
	require.NoError(t, err)
	assert.Equal(t, []byte("\xff\xfe{\"chat_id\":\"c1\"}"), ev.Body, "the body is kept as posted")

	ms, err := s.EventMatches(ctx, evIDs[4])
	require.NoError(t, err)
	require.Len(t, ms, 1)
	assert.Equal(t, "even", ms[0].Rule)
	assert.Equal(t, "v1", ms[0].Version)
	assert.False(t, ms[0].Throttled)
	ms, err = s.EventMatches(ctx, evIDs[5])
	require.NoError(t, err)
	assert.Empty(t, ms)
}

func testReadSeries(t *testing.T, open OpenConsole) {
	s := open(t, time.Now)
	ctx := context.Background()
	consoleEvents(t, s, 60) // one a minute for an hour
	got, err := s.ReadSeries(ctx, consoleStart.Add(-10*time.Minute), 10*time.Minute, 8, []string{"r", "even"}, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 10, 10, 10, 10, 10, 10, 0}, got.Events)
	assert.Equal(t, []int64{0, 0, 0, 0, 0, 0, 0, 0}, got.Outcomes[store.StateDone])
	assert.Equal(t, map[string]int64{"even": 30}, got.Matches)

	got, err = s.ReadSeries(ctx, consoleStart.Add(25*time.Minute), 5*time.Minute, 3, []string{"even"}, consoleStart.Add(30*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, []int64{5, 5, 5}, got.Events)
	assert.Equal(t, map[string]int64{"even": 5}, got.Matches, "matches of the events from 08:30 to 08:40")
}

func testFirstJobAt(t *testing.T, open OpenConsole) {
	ctx := context.Background()
	var now atomicTime
	now.set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	s := open(t, now.get)
	at, err := s.FirstJobAt(ctx, now.get())
	require.NoError(t, err)
	assert.Equal(t, int64(1), at, "no job yet")
	var jobIDs []int64
	// Job i is created at 09:00 + i minutes.
	for i := range 10 {
		now.set(time.Date(2026, 12, 1, 9, i, 0, 0, time.UTC))
		appendN(t, s, 1, fmt.Sprintf("j%d-", i))
		b := batchOf(unevaluated(t, s))
		b.Jobs = []store.NewJob{{EventID: b.Events[0], Rule: "r", Kind: "http", Destination: "crm", Request: []byte(`{}`)}}
		require.NoError(t, s.Commit(ctx, b))
		d, err := s.ListDeliveries(ctx, store.Filter{Limit: 1})
		require.NoError(t, err)
		jobIDs = append(jobIDs, d[0].ID)
	}
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), jobIDs[0]},
		{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), jobIDs[0]},
		{time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC), jobIDs[1]},
		{time.Date(2026, 12, 1, 9, 4, 0, 0, time.UTC), jobIDs[4]},
		{time.Date(2026, 12, 1, 9, 9, 0, 0, time.UTC), jobIDs[9]},
		{time.Date(2026, 12, 1, 9, 9, 1, 0, time.UTC), jobIDs[9] + 1},
	} {
		got, err := s.FirstJobAt(ctx, tt.at)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.at.Format(time.TimeOnly))
	}
}

func testDeliveryReads(t *testing.T, open OpenConsole) {
	ctx := context.Background()
	s := open(t, time.Now)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	appendN(t, s, 2, "dr")
	_, err := s.Append(ctx, store.NewEvent{Body: []byte(`{"chat_id":"early","chat_title":"Early bird"}`)})
	require.NoError(t, err)
	evs := unevaluated(t, s)
	b := batchOf(evs)
	for i := range 3 {
		b.Jobs = append(b.Jobs, store.NewJob{EventID: evs[0].ID, Rule: "r", Action: i, Kind: "http", Destination: fmt.Sprintf("d%d", i%2), Request: []byte(`{}`)})
	}
	b.State.Chats = []store.ChatRow{
		{ID: "late", State: []byte(`{}`), Added: []time.Time{t0.Add(2 * time.Minute)}},
		{ID: "early", State: []byte(`{}`), Added: []time.Time{t0, t0.Add(time.Minute)}},
	}
	b.State.Timers = []store.TimerRow{{Rule: "a", EventID: evs[1].ID, Due: t0.Add(2 * time.Hour)}, {Rule: "b", EventID: evs[0].ID, Due: t0.Add(time.Hour)}}
	require.NoError(t, s.Commit(ctx, b))

	n, err := s.CountDeliveries(ctx, store.Filter{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "waiting to be sent")
	jobs, err := s.Claim(ctx, time.Now().Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	byAction := map[int]store.Job{}
	for _, j := range jobs {
		byAction[j.Action] = j
	}
	errs, err := s.FinishMany(ctx, []store.Finished{
		{ID: byAction[0].ID, Result: store.Result{Outcome: store.OutcomeRetry, At: t0.Add(time.Minute), RetryAt: t0.Add(time.Minute), Status: 503, Error: "busy", Latency: 1500 * time.Microsecond}},
		{ID: byAction[1].ID, Result: store.Result{Outcome: store.OutcomeDead, At: t0.Add(2 * time.Minute), Error: "gone"}},
		{ID: byAction[2].ID, Result: store.Result{Outcome: store.OutcomeDone, At: t0.Add(3 * time.Minute), Status: 200}},
	})
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}
	jobs, err = s.Claim(ctx, time.Now().Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "the retry")
	errs, err = s.FinishMany(ctx, []store.Finished{{ID: jobs[0].ID, Result: store.Result{Outcome: store.OutcomeDone, At: t0.Add(4 * time.Minute), Status: 200}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])

	att, err := s.Attempts(ctx, byAction[0].ID)
	require.NoError(t, err)
	require.Len(t, att, 2)
	assert.Equal(t, store.Attempt{At: t0.Add(time.Minute), Outcome: store.StateRetry, Status: 503, Error: "busy", Latency: 1500 * time.Microsecond}, att[0])
	assert.Equal(t, store.StateDone, att[1].Outcome, "oldest first")

	for _, tt := range []struct {
		f    store.Filter
		want int64
	}{
		{store.Filter{}, 0},
		{store.Filter{State: store.StateDone}, 2},
		{store.Filter{State: store.StateDead}, 1},
		{store.Filter{State: store.StateDone, Destination: "d0"}, 2},
		{store.Filter{Rule: "r", Limit: 1, BeforeID: 1}, 0},
	} {
		n, err := s.CountDeliveries(ctx, tt.f)
		require.NoError(t, err)
		assert.Equal(t, tt.want, n, "%+v", tt.f)
	}
	_, err = s.CountDeliveries(ctx, store.Filter{State: "nope"})
	require.Error(t, err)

	out, err := s.RecentOutcomes(ctx, t0.Add(90*time.Second))
	require.NoError(t, err)
	assert.Equal(t, map[string]*store.DestinationOutcomes{
		"d0": {Destination: "d0", Done: 2, LastAt: t0.Add(4 * time.Minute)},
		"d1": {Destination: "d1", Dead: 1, LastAt: t0.Add(2 * time.Minute)},
	}, out, "the retry at +1m is before since")

	checks, err := s.PendingChecks(ctx, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []store.Check{{Rule: "b", EventID: evs[0].ID, DueAt: t0.Add(time.Hour)}, {Rule: "a", EventID: evs[1].ID, DueAt: t0.Add(2 * time.Hour)}}, checks)
	checks, err = s.PendingChecks(ctx, evs[1].ID, 10)
	require.NoError(t, err)
	assert.Equal(t, []store.Check{{Rule: "a", EventID: evs[1].ID, DueAt: t0.Add(2 * time.Hour)}}, checks)

	aw, err := s.ChatsAwaiting(ctx, 10)
	require.NoError(t, err)
	assert.Equal(t, []store.Awaiting{{ChatID: "early", ChatTitle: "Early bird", Since: t0, Messages: 2}, {ChatID: "late", Since: t0.Add(2 * time.Minute), Messages: 1}}, aw)
	aw, err = s.ChatsAwaiting(ctx, 1)
	require.NoError(t, err)
	assert.Len(t, aw, 1)
}

// atomicTime is a clock a test sets.
type atomicTime struct {
	mu sync.Mutex
	t  time.Time
}

func (a *atomicTime) set(t time.Time) { a.mu.Lock(); a.t = t; a.mu.Unlock() }

func (a *atomicTime) get() time.Time { a.mu.Lock(); defer a.mu.Unlock(); return a.t }
