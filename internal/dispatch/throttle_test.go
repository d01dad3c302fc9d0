package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
)

// TestThrottleUnderABurst: 1,000 matching messages from two chats within
// ten minutes give one action per chat; the others are counted as
// throttled, and the window reopens after ten minutes of message time.
func TestThrottleUnderABurst(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, `
rules:
  - name: ping
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 10m}
    actions: [{log: {message: "{{ chat_id }}"}}]
`)
	start := int64(1_700_000_000)
	for i := range 1000 {
		chat := []string{"1@c.us", "2@c.us"}[i%2]
		body := fmt.Appendf(nil, `{"chat_id":%q,"direction":"received","message":{"id":"B%d","type":"chat"},"timestamp":"%d"}`,
			chat, i, start+int64(i*500/1000)) // all within 500 s
		appendEvent(t, s, body, "")
	}
	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet,
		Now: func() time.Time { return time.Unix(start, 0) }})
	for {
		n, err := d.Once(t.Context())
		require.NoError(t, err)
		if n == 0 {
			break
		}
	}
	require.Len(t, jobs(t, s), 2, "one action per chat in the window")
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.Equal(t, int64(998), st.Throttled)

	// Ten minutes after the first message of chat 1, its window is over.
	appendEvent(t, s, fmt.Appendf(nil, `{"chat_id":"1@c.us","direction":"received","message":{"id":"L","type":"chat"},"timestamp":"%d"}`, start+601), "")
	_, err = d.Once(t.Context())
	require.NoError(t, err)
	require.Len(t, jobs(t, s), 3)
}
