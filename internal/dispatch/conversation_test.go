package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// TestConversationStateAcrossBatchesAndRestarts: the state conditions see
// is computed from the messages' timestamps, persists across batches and
// restarts, learns the team from user_phone, and counts a repeat once.
func TestConversationStateAcrossBatchesAndRestarts(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: awaiting
    when: chat.awaiting_reply
    dedupe: false
    actions: [{log: {message: "{{ message.id }} since {{ chat.awaiting_since }} n={{ chat.received_count }}"}}]
  - name: teammate
    when: from_team && direction == "received"
    actions: [{log: {message: "teammate"}}]
`, minute(60))
	w.post(msg("Q", "received", minute(0)))
	w.run()
	// The same question posted by a second member's Cooby: a repeat sees
	// the state but does not count twice.
	w.post(msg("Q", "received", minute(0)))
	w.run()
	require.Equal(t, []string{"Q since 2026-11-24T10:00:00Z n=1", "Q since 2026-11-24T10:00:00Z n=1"}, w.texts("awaiting"))

	// A restart; the team's reply (minute 20), then a customer message
	// written before it (minute 15) whose payload arrives late: answered.
	w.reopen()
	w.post(msg("R", "sent", minute(20)), msg("L", "received", minute(15)))
	w.run()
	require.Len(t, w.texts("awaiting"), 2, "the late question was already answered")

	// The team directory learned 15550000001 from user_phone: the same
	// number received in a group is the team's.
	w.post([]byte(fmt.Sprintf(`{"chat_id":"1@g.us","chat_type":"group","direction":"received","message":{"id":"M","type":"chat"},
		"timestamp":"%d","sender":{"phone":"+1 555 000 0001"}}`, minute(25).Unix())))
	w.run()
	require.Equal(t, []string{"teammate"}, w.texts("teammate"))
}

// TestDelayedCheckAcrossRestart: a delayed check is kept in the store,
// runs once when due (after a restart too), with `now()` at its due time,
// and acts only if the rule still holds then.
func TestDelayedCheckAcrossRestart(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: unanswered
    when: direction == "received" && !from_team && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "{{ message.id }} waited {{ chat.waiting_for }}"}}]
`, minute(1))
	w.post(msg("A", "received", minute(0)))
	w.run()
	w.now = minute(2)
	w.post(msg("B", "received", minute(2)), msg("B-reply", "sent", minute(10)))
	w.run()
	w.reopen()
	w.at(minute(29))
	require.Empty(t, w.texts("unanswered"), "not due yet")
	w.at(minute(31))
	require.Empty(t, w.texts("unanswered"), "answered at minute 10: A's check does nothing")

	w.post(msg("C", "received", minute(31)))
	w.run()
	w.reopen()
	w.at(minute(90))
	w.at(minute(120))
	require.Equal(t, []string{"C waited 30m"}, w.texts("unanswered"), "checked once, with now() at its due time")
}

// TestThrottleBothWaysLive: the live throttle decides in message time in
// both directions, across batches and restarts.
func TestThrottleBothWaysLive(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: t
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 10m}
    actions: [{log: {message: "{{ message.id }}"}}]
`, minute(60))
	w.post(msg("m30", "received", minute(30)))
	w.run()
	w.reopen()
	w.post(msg("m25", "received", minute(25)), msg("m10", "received", minute(10)), msg("m35", "received", minute(35)), msg("m41", "received", minute(41)))
	w.run()
	require.Equal(t, []string{"m30", "m10", "m41"}, w.texts("t"))
	st, err := w.s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Throttled)
}

// TestGroupClosesOnceAcrossRestart: a group keeps its messages across a
// restart and acts once when its window has closed.
func TestGroupClosesOnceAcrossRestart(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: batch
    when: direction == "received"
    group: {key: "{{ chat_id }}", window: 10m}
    actions: [{log: {message: "{{ len(group) }} from {{ message.id }}: {{ join(map(group, .message_id), \",\") }}"}}]
`, minute(1))
	w.post(msg("a", "received", minute(0)))
	w.run()
	w.reopen()
	w.now = minute(5)
	w.post(msg("b", "received", minute(4)), msg("c", "received", minute(2)))
	w.run()
	w.reopen()
	w.at(minute(9))
	require.Empty(t, w.texts("batch"))
	w.at(minute(11))
	w.at(minute(12))
	require.Equal(t, []string{"3 from a: a,c,b"}, w.texts("batch"))
}

// TestScheduledRunsLive: a new schedule starts counting at once, runs at
// its times with a digest of what was received since, and a for_each:
// chat rule acts once per episode of a chat.
func TestScheduledRunsLive(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: digest
    schedule: "0 * * * *"
    when: digest.received > 0
    actions: [{log: {message: "{{ digest.received }} received, {{ len(digest.awaiting) }} waiting"}}]
  - name: waiting
    schedule: "*/15 * * * *"
    for_each: chat
    when: chat.awaiting_reply && chat.waiting_for >= duration("30m")
    actions: [{log: {message: "{{ chat.id }} since {{ chat.awaiting_since }}"}}]
`, minute(1))
	w.run() // the schedules start
	w.now = minute(2)
	w.post(msg("q1", "received", minute(1)))
	w.run()
	w.at(minute(31))
	w.at(minute(46))
	w.at(minute(60))
	require.Equal(t, []string{"1 received, 1 waiting"}, w.texts("digest"))
	require.Equal(t, []string{"15551234567@c.us since 2026-11-24T10:01:00Z"}, w.texts("waiting"), "once for the episode")
	w.reopen()
	w.at(minute(75))
	w.now = minute(80)
	w.post(msg("a1", "sent", minute(80)), msg("q2", "received", minute(81)))
	w.run()
	w.at(minute(120))
	require.Equal(t, []string{"1 received, 1 waiting", "1 received, 1 waiting"}, w.texts("digest"),
		"the hour after: two new messages, one of them the team's, and q2 waiting")
	require.Len(t, w.texts("waiting"), 2, "a new episode is reported once more")
}

// TestFailedSendAndReactionsLeaveTheWait: end to end, a sent message that
// failed and a customer's reaction leave the conversation as it was.
func TestFailedSendAndReactionsLeaveTheWait(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: unanswered
    when: direction == "received" && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "{{ message.id }}"}}]
`, minute(1))
	failed := []byte(fmt.Sprintf(`{"chat_id":"15551234567@c.us","direction":"sent","user_phone":"15550000001",
		"message":{"id":"F","type":"chat","is_error":true,"error_code":"404"},"timestamp":"%d"}`, minute(5).Unix()))
	w.post(msg("Q", "received", minute(0)), failed)
	w.run()
	w.at(minute(31))
	require.Equal(t, []string{"Q"}, w.texts("unanswered"), "a failed send is no reply")

	w.now = minute(40)
	reaction := []byte(fmt.Sprintf(`{"chat_id":"15551234567@c.us","direction":"received","user_phone":"15550000001",
		"message":{"id":"R","type":"reaction"},"timestamp":"%d","sender":{"phone":"15551234567"}}`, minute(41).Unix()))
	w.post(msg("A", "sent", minute(35)), reaction)
	w.at(minute(80))
	require.Equal(t, []string{"Q"}, w.texts("unanswered"), "a reaction after the answer opens no wait")
}

// TestDelayedCheckWithoutItsEvent: a due check whose event is no longer
// stored is dropped, not left due for ever.
func TestDelayedCheckWithoutItsEvent(t *testing.T) {
	w := newWorld(t, `
rules:
  - name: later
    when: "true"
    after: 1m
    actions: [{log: {message: "x"}}]
`, minute(10))
	require.NoError(t, w.s.Commit(t.Context(), store.Batch{State: store.StateChanges{
		Timers: []store.TimerRow{{Rule: "later", EventID: 999, Due: minute(5)}}}}))
	w.reopen()
	w.run()
	next, err := w.s.NextTimer(t.Context())
	require.NoError(t, err)
	require.True(t, next.IsZero(), "the check was dropped")
	require.Empty(t, w.jobs())
}
