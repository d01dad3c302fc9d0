package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
)

// chatMsg is a message of one 1:1 chat; from is the sender's number.
func chatMsg(id, direction, from string, ts int64) []byte {
	return fmt.Appendf(nil, `{"chat_id":"15551234567@c.us","chat_type":"individual","direction":%q,
		"user_phone":"15550000001","message":{"id":%q,"type":"chat","text":"x"},"timestamp":"%d",
		"sender":{"phone":%q,"wa_name":"someone"}}`, direction, id, ts, from)
}

// TestConversationStateAcrossBatchesAndRestarts: the state conditions see
// is computed from the messages' timestamps, persists across batches and
// restarts, learns the team from user_phone, and counts a repeat once.
func TestConversationStateAcrossBatchesAndRestarts(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rs := rules(t, `
rules:
  - name: awaiting
    when: chat.awaiting_reply
    dedupe: false
    actions: [{log: {message: "since {{ chat.awaiting_since }} n={{ chat.received_count }}"}}]
  - name: teammate
    when: from_team && direction == "received"
    actions: [{log: {message: "teammate"}}]
`)
	run := func() {
		d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet,
			Now: func() time.Time { return time.Unix(5000, 0) }})
		for {
			n, err := d.Once(t.Context())
			require.NoError(t, err)
			if n == 0 {
				return
			}
		}
	}
	matched := func() []string {
		var out []string
		for _, j := range jobs(t, s) {
			out = append(out, fmt.Sprintf("%d:%s", j.EventID, j.Rule))
		}
		return out
	}

	q := appendEvent(t, s, chatMsg("Q", "received", "15551234567", 1000), "Q\x00received\x0015551234567@c.us")
	run()
	require.Equal(t, []string{fmt.Sprintf("%d:awaiting", q)}, matched())

	// The same question posted by a second member's Cooby: a repeat sees
	// the state but does not count twice.
	dup := appendEvent(t, s, chatMsg("Q", "received", "15551234567", 1000), "Q\x00received\x0015551234567@c.us")
	run()
	require.Contains(t, matched(), fmt.Sprintf("%d:awaiting", dup))
	for _, j := range jobs(t, s) {
		require.Contains(t, string(j.Request), "n=1", "a repeat is not counted")
	}

	// A restart; the team's reply (time 2000), then a customer message
	// written before it (time 1500) whose payload arrives late: answered.
	require.NoError(t, s.Close())
	s = openStore(t, dir)
	appendEvent(t, s, chatMsg("R", "sent", "15550000001", 2000), "")
	late := appendEvent(t, s, chatMsg("L", "received", "15551234567", 1500), "")
	run()
	for _, m := range matched() {
		require.NotEqual(t, fmt.Sprintf("%d:awaiting", late), m, "the late question was already answered")
	}

	// The team directory learned 15550000001 from user_phone: the same
	// number received in a group is the team's.
	mate := appendEvent(t, s, chatMsg("M", "received", "+1 555 000 0001", 2500), "")
	run()
	require.Contains(t, matched(), fmt.Sprintf("%d:teammate", mate))
}
