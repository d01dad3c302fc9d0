package store

import (
	"fmt"
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

func httpJob(rule string, action int) NewJob {
	return NewJob{Rule: rule, Action: action, Kind: "http", Destination: "crm", Request: []byte(`{"x":1}`)}
}

func TestCommit_WritesJobsAndCursorTogether(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet)
	ids := eventsT(t, s, 3)

	c, err := s.Cursor(t.Context())
	require.NoError(t, err)
	require.Zero(t, c)

	due := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	results := []Evaluated{
		{EventID: ids[0], RulesetVersion: "v1", Matched: []string{"vip", "log-all"}, Jobs: []NewJob{
			httpJob("vip", 0),
			{Rule: "vip", Action: 1, Kind: "slack", Destination: "sales", Request: []byte(`{"text":"hi"}`),
				IdempotencyKey: "custom-key", NextAttemptAt: due},
		}},
		{EventID: ids[1], RulesetVersion: "v1"}, // evaluated, nothing matched
	}
	require.NoError(t, s.Commit(t.Context(), ids[1], results))
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
	require.NoError(t, s.Commit(t.Context(), ids[0], nil))

	tests := []struct {
		name    string
		cursor  int64
		results []Evaluated
		wantErr string
	}{
		{"cursor goes back", 0, nil, "cursor would go back"},
		{"cursor past last event", ids[3] + 1, nil, "past the last event"},
		{"event already committed", ids[2], []Evaluated{{EventID: ids[0]}}, "outside the range"},
		{"event after cursor", ids[1], []Evaluated{{EventID: ids[2]}}, "outside the range"},
		{"event id zero", ids[1], []Evaluated{{EventID: 0}}, "not positive"},
		{"job without kind", ids[1], []Evaluated{{EventID: ids[1], Jobs: []NewJob{{Rule: "r"}}}}, "empty kind"},
		{"job without rule", ids[1], []Evaluated{{EventID: ids[1], Jobs: []NewJob{{Kind: "http"}}}}, "empty rule"},
		{"negative action", ids[1], []Evaluated{{EventID: ids[1], Jobs: []NewJob{{Rule: "r", Kind: "k", Action: -1}}}}, "negative action"},
		{"duplicate job rolls back the earlier writes", ids[2], []Evaluated{
			{EventID: ids[1], Matched: []string{"r"}, Jobs: []NewJob{httpJob("r", 0)}},
			{EventID: ids[2], Jobs: []NewJob{httpJob("r", 0), httpJob("r", 0)}},
		}, "UNIQUE"},
		{"duplicate match", ids[1], []Evaluated{{EventID: ids[1], Matched: []string{"r", "r"}}}, "UNIQUE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Commit(t.Context(), tt.cursor, tt.results)
			require.ErrorContains(t, err, tt.wantErr)

			c, err := s.Cursor(t.Context())
			require.NoError(t, err)
			require.Equal(t, ids[0], c)
			ds, err := s.ListDeliveries(t.Context(), Filter{})
			require.NoError(t, err)
			require.Empty(t, ds)
			var matches int
			require.NoError(t, s.rdb.QueryRow(`SELECT COUNT(*) FROM matches`).Scan(&matches))
			require.Zero(t, matches)
		})
	}
	require.NoError(t, s.Err(), "a rejected Commit does not fail the store")
	require.NoError(t, s.Commit(t.Context(), ids[3], []Evaluated{{EventID: ids[3], Jobs: []NewJob{httpJob("r", 0)}}}))
}

func TestCommit_StoresChatStatesAndTeam(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	ctx := t.Context()
	a, err := s.Append(ctx, NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	b, err := s.Append(ctx, NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, b.ID, []Evaluated{
		{EventID: a.ID, Chats: map[string][]byte{"1@c.us": []byte(`{"v":1}`)}, TeamPhones: []string{"44"}},
		{EventID: b.ID, Chats: map[string][]byte{"1@c.us": []byte(`{"v":2}`), "2@c.us": []byte(`{"v":3}`)}, TeamPhones: []string{"44", "45"}},
	}))
	got, err := s.Chats(ctx, []string{"1@c.us", "2@c.us", "3@c.us"})
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"1@c.us": []byte(`{"v":2}`), "2@c.us": []byte(`{"v":3}`)}, got, "the later state wins")
	team, err := s.TeamPhones(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"44", "45"}, team)
}
