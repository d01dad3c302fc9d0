package store

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// eventsT appends n events and returns their ids.
func eventsT(t *testing.T, s *Store, n int) []int64 {
	t.Helper()
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = appendT(t, s, fmt.Sprintf(`{"n":%d}`, i), "").ID
	}
	return ids
}

func httpJob(eventID int64, rule string, action int) NewJob {
	return NewJob{EventID: eventID, Rule: rule, Action: action, Kind: "http", Destination: "crm", Request: []byte(`{"x":1}`)}
}

func TestCommit_WritesJobsAndCursorTogether(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet)
	ids := eventsT(t, s, 3)

	c, err := s.Cursor(t.Context())
	require.NoError(t, err)
	require.Zero(t, c)

	due := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	b := Batch{Cursor: ids[1], Version: "v1", // ids[1]: evaluated, nothing matched
		Matches: []Match{{EventID: ids[0], Rule: "vip"}, {EventID: ids[0], Rule: "log-all"}},
		Jobs: []NewJob{
			httpJob(ids[0], "vip", 0),
			{EventID: ids[0], Rule: "vip", Action: 1, Kind: "slack", Destination: "sales", Request: []byte(`{"text":"hi"}`),
				IdempotencyKey: "custom-key", NextAttemptAt: due},
		}}
	require.NoError(t, s.Commit(t.Context(), b))
	require.NoError(t, s.Close())

	s = openT(t, dir, quiet)
	c, err = s.Cursor(t.Context())
	require.NoError(t, err)
	require.Equal(t, ids[1], c)
	evs, err := s.ReadEvents(t.Context(), c, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "only the uncommitted event is left to evaluate")
	require.Equal(t, ids[2], evs[0].ID)

	ds, err := s.ListDeliveries(t.Context(), Filter{})
	require.NoError(t, err)
	require.Len(t, ds, 2)
	slack, hook := ds[0], ds[1] // newest first
	require.Equal(t, StatePending, hook.State)
	require.Equal(t, fmt.Sprintf("%d:vip:0", ids[0]), hook.IdempotencyKey)
	require.Equal(t, []byte(`{"x":1}`), hook.Request)
	require.Equal(t, "v1", hook.RulesetVersion)
	require.Equal(t, "custom-key", slack.IdempotencyKey)
	require.Equal(t, due, slack.NextAttemptAt)
	require.Equal(t, "slack", slack.Kind)
	require.Equal(t, "sales", slack.Destination)
	require.Equal(t, 1, slack.Action)

	var matches int
	require.NoError(t, s.rdb.QueryRow(`SELECT COUNT(*) FROM matches WHERE event_id = ? AND ruleset_version = 'v1'`, ids[0]).Scan(&matches))
	require.Equal(t, 2, matches)

	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Pending)
	require.Equal(t, ids[1], st.Cursor)
}

func TestCommit_RejectsBadInputAndWritesNothing(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	ids := eventsT(t, s, 4)
	require.NoError(t, s.Commit(t.Context(), Batch{Cursor: ids[0]}))

	tests := []struct {
		name    string
		batch   Batch
		wantErr string
	}{
		{"cursor goes back", Batch{Cursor: 0}, "cursor would go back"},
		{"cursor past last event", Batch{Cursor: ids[3] + 1}, "past the last event"},
		{"event already committed", Batch{Cursor: ids[2], Matches: []Match{{EventID: ids[0], Rule: "r"}}}, "outside the range"},
		{"event after cursor", Batch{Cursor: ids[1], Matches: []Match{{EventID: ids[2], Rule: "r"}}}, "outside the range"},
		{"event id zero", Batch{Cursor: ids[1], Matches: []Match{{EventID: 0, Rule: "r"}}}, "not positive"},
		{"job without kind", Batch{Cursor: ids[1], Jobs: []NewJob{{EventID: ids[1], Rule: "r"}}}, "empty kind"},
		{"job without rule", Batch{Cursor: ids[1], Jobs: []NewJob{{EventID: ids[1], Kind: "http"}}}, "empty rule"},
		{"negative action", Batch{Cursor: ids[1], Jobs: []NewJob{{EventID: ids[1], Rule: "r", Kind: "k", Action: -1}}}, "negative action"},
		{"duplicate job rolls back the earlier writes", Batch{Cursor: ids[2],
			Matches: []Match{{EventID: ids[1], Rule: "r"}},
			Jobs:    []NewJob{httpJob(ids[1], "r", 0), httpJob(ids[2], "r", 0), httpJob(ids[2], "r", 0)},
			State:   StateChanges{Team: []string{"44"}, Chats: []ChatRow{{ID: "1@c.us", State: []byte(`{}`), Added: []time.Time{time.Unix(1, 0)}}}},
		}, "UNIQUE"},
		{"duplicate match", Batch{Cursor: ids[1], Matches: []Match{{EventID: ids[1], Rule: "r"}, {EventID: ids[1], Rule: "r"}}}, "UNIQUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Commit(t.Context(), tt.batch)
			require.ErrorContains(t, err, tt.wantErr)

			c, err := s.Cursor(t.Context())
			require.NoError(t, err)
			require.Equal(t, ids[0], c)
			ds, err := s.ListDeliveries(t.Context(), Filter{})
			require.NoError(t, err)
			require.Empty(t, ds)
			var rows int
			require.NoError(t, s.rdb.QueryRow(`SELECT (SELECT COUNT(*) FROM matches) + (SELECT COUNT(*) FROM team) + (SELECT COUNT(*) FROM chats)`).Scan(&rows))
			require.Zero(t, rows)
		})
	}
	require.NoError(t, s.Err(), "a rejected Commit does not fail the store")
	require.NoError(t, s.Commit(t.Context(), Batch{Cursor: ids[3], Jobs: []NewJob{httpJob(ids[3], "r", 0)}}))
}

// TestCommit_PersistsStateChanges: what the engine changed is read back as
// it was written, across a restart, and a chat's pending times change by
// rows (added, removed one at a time, repeats kept).
func TestCommit_PersistsStateChanges(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet)
	ctx := t.Context()
	ids := eventsT(t, s, 3)
	at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
	g := GroupRef{Rule: "batch", Key: "k", Start: at(100)}
	require.NoError(t, s.Commit(ctx, Batch{Cursor: ids[1], State: StateChanges{
		Team:      []string{"44", "45"},
		Chats:     []ChatRow{{ID: "1@c.us", State: []byte(`{"v":1}`), Added: []time.Time{at(10), at(20), at(20), at(30)}}, {ID: "2@c.us", State: []byte(`{"v":2}`)}},
		Throttles: []ThrottleRow{{Rule: "t", Key: "a", Acts: []time.Time{at(5), at(700)}}},
		Joined:    []GroupJoin{{GroupRef: g, EventID: ids[0], Opened: true}, {GroupRef: g, EventID: ids[1]}},
		Timers:    []TimerRow{{Rule: "late", EventID: ids[0], Due: at(1800)}},
		Schedules: []ScheduleRow{{Rule: "digest", At: at(3600)}},
	}}))
	require.NoError(t, s.Commit(ctx, Batch{Cursor: ids[1], State: StateChanges{
		Team:  []string{"45", "46"},
		Chats: []ChatRow{{ID: "1@c.us", State: []byte(`{"v":3}`), Removed: []time.Time{at(10), at(20)}, Added: []time.Time{at(40)}}},
	}}))
	require.NoError(t, s.Close())
	s = openT(t, dir, quiet)

	chats, err := s.Chats(ctx, []string{"1@c.us", "2@c.us", "3@c.us"})
	require.NoError(t, err)
	require.Equal(t, map[string]Chat{
		"1@c.us": {State: []byte(`{"v":3}`), Pending: []time.Time{at(20), at(30), at(40)}},
		"2@c.us": {State: []byte(`{"v":2}`)},
	}, chats)
	all, err := s.AllChats(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, chats, all)

	l, err := s.LoadState(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"44", "45", "46"}, l.Team)
	require.Equal(t, []ThrottleRow{{Rule: "t", Key: "a", Acts: []time.Time{at(5), at(700)}}}, l.Throttles)
	require.Len(t, l.Groups, 1)
	require.Equal(t, g, l.Groups[0].GroupRef)
	require.Equal(t, ids[0], l.Groups[0].EventID)
	require.Equal(t, []int64{ids[0], ids[1]}, []int64{l.Groups[0].Events[0].ID, l.Groups[0].Events[1].ID})
	require.Equal(t, map[string]time.Time{"digest": at(3600)}, l.Schedules)

	due, err := s.DueTimers(ctx, at(1799), 10)
	require.NoError(t, err)
	require.Empty(t, due)
	due, err = s.DueTimers(ctx, at(1800), 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, ids[0], due[0].Event.ID)
	next, err := s.NextTimer(ctx)
	require.NoError(t, err)
	require.Equal(t, at(1800), next)

	// The check ran, the group closed.
	require.NoError(t, s.Commit(ctx, Batch{Cursor: ids[1], State: StateChanges{Checked: []int64{due[0].ID}, Closed: []GroupRef{g}}}))
	l, err = s.LoadState(ctx)
	require.NoError(t, err)
	require.Empty(t, l.Groups)
	next, err = s.NextTimer(ctx)
	require.NoError(t, err)
	require.True(t, next.IsZero())
}

// TestMigration10_MovesPendingTimesAndOpenGroups: a data folder written by
// the previous schema keeps its chats' unanswered messages (now rows) and
// its open groups.
func TestMigration10_MovesPendingTimesAndOpenGroups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	db, err := sql.Open("sqlite", dsn(path, "journal_mode(WAL)"))
	require.NoError(t, err)
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	for v := range 9 {
		require.NoError(t, applyMigration(t.Context(), conn, v+1, migrations[v]))
	}
	for _, q := range []string{
		`INSERT INTO events (id, received_at, body, size) VALUES (1, 0, '{}', 2), (2, 0, '{}', 2)`,
		`INSERT INTO chats (chat_id, state, updated_at) VALUES ('1@c.us',
			'{"chat_id":"1@c.us","pending":["2026-11-24T10:00:00Z","2026-11-24T10:05:30.5Z"],"received":2}', 0)`,
		`INSERT INTO groups (id, rule, key, window_end, flushed) VALUES (7, 'batch', 'k', 1000, 0), (8, 'batch', 'k', 500, 1)`,
		`INSERT INTO group_items (group_id, event_id) VALUES (7, 2), (7, 1), (8, 1)`,
		`INSERT INTO timers (rule, event_id, due_at, done) VALUES ('a', 1, 10, 1), ('a', 2, 20, 0)`,
	} {
		_, err := conn.ExecContext(t.Context(), q)
		require.NoError(t, err, q)
	}
	require.NoError(t, conn.Close())
	require.NoError(t, db.Close())

	s := openT(t, dir, quiet)
	chats, err := s.Chats(t.Context(), []string{"1@c.us"})
	require.NoError(t, err)
	require.Equal(t, []time.Time{time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), time.Date(2026, 11, 24, 10, 5, 30, 500e6, time.UTC)},
		chats["1@c.us"].Pending)
	require.JSONEq(t, `{"chat_id":"1@c.us","received":2}`, string(chats["1@c.us"].State))
	l, err := s.LoadState(t.Context())
	require.NoError(t, err)
	require.Len(t, l.Groups, 1, "the open group, not the flushed one")
	require.Equal(t, int64(1), l.Groups[0].EventID)
	require.Len(t, l.Groups[0].Events, 2)
	next, err := s.NextTimer(t.Context())
	require.NoError(t, err)
	require.Equal(t, fromMS(20), next, "the check that ran is gone")
}
