package pgstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
)

// TestImport copies a SQLite store with evaluated and unevaluated events,
// deliveries, state and dedupe keys: the copy goes on where the source
// stopped.
func TestImport(t *testing.T) {
	ctx := context.Background()
	lite, err := store.Open(ctx, t.TempDir(), store.Options{})
	require.NoError(t, err)
	defer lite.Close()
	var ids []int64
	for i := range 5 {
		a, err := lite.Append(ctx, store.NewEvent{Body: fmt.Appendf(nil, `{"i":%d,"chat_id":"chat%d"}`, i, i%2), DedupeKey: fmt.Sprint("k\x00", i)})
		require.NoError(t, err)
		ids = append(ids, a.ID)
	}
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	require.NoError(t, lite.Commit(ctx, store.Batch{Cursor: ids[2], Version: "v1",
		Matches: []store.Match{{EventID: ids[0], Rule: "r", Throttled: true}},
		Jobs: []store.NewJob{
			{EventID: ids[0], Rule: "r", Kind: "http", Destination: "d", Request: []byte(`{"a":1}`)},
			{EventID: ids[1], Rule: "r", Kind: "http", Destination: "d", Request: []byte(`{"a":2}`)},
		},
		State: store.StateChanges{
			Team:      []string{"+1"},
			Chats:     []store.ChatRow{{ID: "c", State: []byte(`{"chat_id":"c"}`), Added: []time.Time{t0}}},
			Throttles: []store.ThrottleRow{{Rule: "th", Key: "k", Acts: []time.Time{t0}}},
			Joined:    []store.GroupJoin{{GroupRef: store.GroupRef{Rule: "g", Key: "k", Start: t0}, EventID: ids[1], Opened: true}},
			Timers:    []store.TimerRow{{Rule: "late", EventID: ids[2], Due: t0}},
			Schedules: []store.ScheduleRow{{Rule: "daily", At: t0, Ran: true}},
		}}))
	jobs, err := lite.Claim(ctx, time.Now().Add(time.Second), 1, time.Minute)
	require.NoError(t, err)
	_, err = lite.FinishMany(ctx, []store.Finished{{ID: jobs[0].ID, Result: store.Result{Outcome: store.OutcomeDone}}})
	require.NoError(t, err)
	_, err = lite.Quarantine(ctx, []byte("junk"), "bad")
	require.NoError(t, err)

	pg := open(t, pgstore.Options{Instance: "a"})
	n, err := pg.Import(ctx, lite)
	require.NoError(t, err)
	require.EqualValues(t, 5, n["events"])
	require.EqualValues(t, 2, n["jobs"])
	_, err = pg.Import(ctx, lite)
	require.ErrorContains(t, err, "already holds", "a second import is refused")

	evs, err := pg.Unevaluated(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{ids[3], ids[4]}, []int64{evs[0].ID, evs[1].ID}, "evaluation goes on after the source's cursor")
	c, err := pg.Cursor(ctx)
	require.NoError(t, err)
	require.Equal(t, ids[2], c)
	a, err := pg.Append(ctx, store.NewEvent{Body: []byte(`{}`), DedupeKey: "k\x001"})
	require.NoError(t, err)
	require.True(t, a.Duplicate, "the dedupe keys came along")
	require.Equal(t, ids[1], a.ID)
	require.Greater(t, a.Row, ids[4], "new ids follow the copied ones")

	claimed, err := pg.Claim(ctx, time.Now().Add(time.Second), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, claimed, 1, "the pending delivery (the done one stays done)")
	require.Equal(t, []byte(`{"a":2}`), claimed[0].Request)

	want, err := lite.LoadState(ctx)
	require.NoError(t, err)
	got, err := pg.LoadState(ctx)
	require.NoError(t, err)
	require.Equal(t, want, got)
	wc, err := lite.AllChats(ctx, 10)
	require.NoError(t, err)
	gc, err := pg.AllChats(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, wc, gc)
	due, err := pg.DueTimers(ctx, t0, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	qs, err := pg.ListQuarantine(ctx, 10)
	require.NoError(t, err)
	require.Len(t, qs, 1)
	st, err := pg.Stats(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, st.Events)
	// The console's columns are filled for the imported events (COPY
	// fires the trigger as an insert does).
	page, err := pg.ListEvents(ctx, store.EventFilter{ChatID: "chat0"})
	require.NoError(t, err)
	require.Len(t, page.Events, 3, "events 0, 2 and 4")
}
