package schedule_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/schedule"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestWeekdayDigestAcrossDST runs a weekday 09:00 Europe/London digest on
// a fake clock across the change to summer time: it runs at 09:00 local
// (09:00Z, then 08:00Z), once per day across a restart, sees the messages
// of its period, and after downtime runs once (missed: run) or not at all
// (missed: skip).
func TestWeekdayDigestAcrossDST(t *testing.T) {
	rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: func(string) (string, bool) { return "", false }},
		engine.Source{Name: "r.yaml", Data: []byte(`
timezone: Europe/London
rules:
  - name: digest
    schedule: "0 9 * * MON-FRI"
    when: "true"
    actions: [{log: {message: "{{ digest.received }} received, {{ digest.sent }} sent, {{ digest.chats }} chats"}}]
  - name: skipper
    schedule: "0 9 * * MON-FRI"
    missed: skip
    when: "true"
    actions: [{log: {message: "skipper"}}]
`)})
	require.NoError(t, err)
	dir := t.TempDir()
	open := func() *store.Store {
		s, err := store.Open(t.Context(), dir, store.Options{Logger: quiet})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	s := open()
	var now time.Time
	at := func(v string) {
		var err error
		now, err = time.Parse(time.RFC3339, v)
		require.NoError(t, err)
		sch := schedule.New(schedule.Options{Store: s, Rules: func() *engine.RuleSet { return rs }, Now: func() time.Time { return now }, Logger: quiet})
		_, err = sch.Once(t.Context())
		require.NoError(t, err)
	}
	runs := func(rule string) []string {
		ds, err := s.ListDeliveries(t.Context(), store.Filter{Rule: rule, Limit: 100})
		require.NoError(t, err)
		var out []string
		for i := len(ds) - 1; i >= 0; i-- {
			out = append(out, time.Unix(-ds[i].EventID, 0).UTC().Format("Mon 15:04Z")+" "+string(ds[i].Request))
		}
		return out
	}

	at("2026-03-26T12:00:00Z") // Thursday: the schedules start counting
	for _, body := range []string{
		`{"chat_id":"1@c.us","direction":"received","message":{"id":"a"}}`,
		`{"chat_id":"2@c.us","direction":"received","message":{"id":"b"}}`,
		`{"chat_id":"1@c.us","direction":"sent","message":{"id":"c"}}`,
	} {
		_, err := s.Append(t.Context(), store.NewEvent{Body: []byte(body), ReceivedAt: now.Add(time.Hour)})
		require.NoError(t, err)
	}
	at("2026-03-27T08:59:00Z")
	require.Empty(t, runs("digest"))
	at("2026-03-27T09:00:30Z")
	require.Len(t, runs("digest"), 1)
	require.Contains(t, runs("digest")[0], "Fri 09:00Z")
	require.Contains(t, runs("digest")[0], "2 received, 1 sent, 2 chats")

	at("2026-03-30T07:59:00Z") // Monday, summer time: 09:00 local is 08:00Z
	require.Len(t, runs("digest"), 1)
	at("2026-03-30T08:00:30Z")
	require.Len(t, runs("digest"), 2)
	require.Contains(t, runs("digest")[1], "Mon 08:00Z")
	require.Contains(t, runs("digest")[1], "0 received")

	require.NoError(t, s.Close()) // a restart does not run it again
	s = open()
	at("2026-03-30T08:05:00Z")
	require.Len(t, runs("digest"), 2)

	// Down from Monday until Wednesday noon: Tuesday's and Wednesday's runs
	// were missed. missed: run runs once, for Wednesday; skip does not.
	at("2026-04-01T12:00:00Z")
	require.Len(t, runs("digest"), 3)
	require.Contains(t, runs("digest")[2], "Wed 08:00Z")
	require.Len(t, runs("skipper"), 2, "Friday and Monday ran on time; the missed ones were skipped")
	at("2026-04-02T08:00:10Z")
	require.Len(t, runs("skipper"), 3, "and it runs on time again")
}
