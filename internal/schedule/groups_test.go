package schedule_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/schedule"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestGroupUnderABurst: 1,000 matching messages from two chats within a
// window become one action per chat when the window closes, whose template
// sees all of that chat's messages; a later message opens a new group.
func TestGroupUnderABurst(t *testing.T) {
	rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: func(string) (string, bool) { return "", false }},
		engine.Source{Name: "r.yaml", Data: []byte(`
rules:
  - name: batch
    when: direction == "received"
    group: {key: "{{ chat_id }}", window: 10m}
    actions: [{log: {message: "{{ chat_id }}: {{ len(group) }} messages, first {{ group[0].text }}"}}]
`)})
	require.NoError(t, err)
	s, err := store.Open(t.Context(), t.TempDir(), store.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now()
	clock := func() time.Time { return now }
	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet, Now: clock})
	sch := schedule.New(schedule.Options{Store: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet, Now: clock})
	drain := func() {
		for {
			n, err := d.Once(t.Context())
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
	}
	post := func(chat, text string, ts int64) {
		_, err := s.Append(t.Context(), store.NewEvent{Body: fmt.Appendf(nil,
			`{"chat_id":%q,"direction":"received","message":{"id":%q,"type":"chat","text":%q},"timestamp":"%d"}`, chat, text, text, ts)})
		require.NoError(t, err)
	}
	for i := range 1000 {
		post([]string{"1@c.us", "2@c.us"}[i%2], fmt.Sprintf("m%d", i), 1_700_000_000+int64(i))
	}
	drain()
	jobsNow := func() []store.Delivery {
		ds, err := s.ListDeliveries(t.Context(), store.Filter{Limit: 100})
		require.NoError(t, err)
		return ds
	}
	_, err = sch.Once(t.Context())
	require.NoError(t, err)
	require.Empty(t, jobsNow(), "the window is still open")

	// Stores open windows with the store's own clock (real time); the test
	// clock jumps past them.
	now = time.Now().Add(11 * time.Minute)
	_, err = sch.Once(t.Context())
	require.NoError(t, err)
	js := jobsNow()
	require.Len(t, js, 2, "one action per chat")
	var bodies []string
	for _, j := range js {
		bodies = append(bodies, string(j.Request))
	}
	require.Contains(t, bodies[0]+bodies[1], "1@c.us: 500 messages, first m0")
	require.Contains(t, bodies[0]+bodies[1], "2@c.us: 500 messages, first m1")

	_, err = sch.Once(t.Context())
	require.NoError(t, err)
	require.Len(t, jobsNow(), 2, "a closed group acts once")

	post("1@c.us", "later", 1_700_009_000)
	drain()
	now = time.Now().Add(30 * time.Minute)
	_, err = sch.Once(t.Context())
	require.NoError(t, err)
	require.Len(t, jobsNow(), 3, "a later message opens a new group")
}
