package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

// base is the time the conversations below start.
var base = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// wa is one WhatsApp message of chat 447441369136@c.us, as Cooby posts it:
// kind is "q" (the customer writes), "a" (the team answers), or
// "a!" (the team's message that failed: is_error), typ the message type,
// min the minutes after base it was written.
func wa(id, kind, typ string, min int) []byte {
	dir, sender, isErr := "received", "447441369136", false
	switch kind {
	case "a":
		dir, sender = "sent", "447441368384"
	case "a!":
		dir, sender, isErr = "sent", "447441368384", true
	}
	return fmt.Appendf(nil, `{"chat_id":"447441369136@c.us","chat_type":"individual","direction":%q,"user_phone":"447441368384",
		"message":{"id":%q,"type":%q,"text":"hello","is_error":%t},"timestamp":"%d","sender":{"phone":%q,"wa_name":"x"}}`,
		dir, id, typ, isErr, base.Add(time.Duration(min)*time.Minute).Unix(), sender)
}

// feed adds payloads to a simulation at now and returns the last outcome.
func feed(t *testing.T, rs *engine.RuleSet, sim *engine.Sim, now time.Time, raws ...[]byte) engine.Outcome {
	t.Helper()
	var out engine.Outcome
	for _, raw := range raws {
		ev, err := engine.Decode(raw)
		require.NoError(t, err)
		out = sim.Add(rs, ev, raw, now, false)
	}
	return out
}

// TestConversationSemantics: what opens a wait for a reply and what
// answers it, as WhatsApp means it.
func TestConversationSemantics(t *testing.T) {
	const waiting = `
rules:
  - name: waiting
    when: chat.awaiting_reply
    dedupe: false
    actions: [{log: {message: "since {{ chat.awaiting_since }}"}}]
`
	tests := []struct {
		name     string
		rules    string
		msgs     [][]byte
		awaiting bool
		since    int // minutes after base
	}{
		{"a question waits", waiting, [][]byte{wa("1", "q", "chat", 0)}, true, 0},
		{"an answer answers", waiting, [][]byte{wa("1", "q", "chat", 0), wa("2", "a", "chat", 5)}, false, 0},
		{"a failed send (is_error) is no answer", waiting, [][]byte{wa("1", "q", "chat", 0), wa("2", "a!", "chat", 5)}, true, 0},
		{"a customer's reaction after the answer opens no wait", waiting,
			[][]byte{wa("1", "q", "chat", 0), wa("2", "a", "chat", 5), wa("3", "q", "reaction", 6)}, false, 0},
		{"a deleted message after the answer opens no wait", waiting,
			[][]byte{wa("1", "q", "chat", 0), wa("2", "a", "chat", 5), wa("3", "q", "revoked", 6)}, false, 0},
		{"the team's reaction answers nothing", waiting,
			[][]byte{wa("1", "q", "chat", 0), wa("2", "a", "reaction", 5)}, true, 0},
		{"ciphertext, polls and pins carry no conversation", waiting,
			[][]byte{wa("1", "q", "ciphertext", 0), wa("2", "q", "poll_update", 1), wa("3", "q", "pin_message", 2), wa("4", "q", "keep_in_chat", 3), wa("5", "q", "reaction_enc", 4)}, false, 0},
		{"the list is the rules file's to change", waiting + "conversation: {ignore_types: [revoked]}\n",
			[][]byte{wa("1", "q", "chat", 0), wa("2", "a", "chat", 5), wa("3", "q", "reaction", 6)}, true, 6},
		{"a late answer answers what was written before it", waiting,
			[][]byte{wa("1", "q", "chat", 0), wa("3", "q", "chat", 10), wa("2", "a", "chat", 5)}, true, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := load(t, tt.rules)
			var sim engine.Sim
			out := feed(t, rs, &sim, base.Add(time.Hour), tt.msgs...)
			require.NotNil(t, out.Chat)
			require.Equal(t, tt.awaiting, out.Chat.AwaitingReply)
			if tt.awaiting {
				require.Equal(t, base.Add(time.Duration(tt.since)*time.Minute), out.Chat.AwaitingSince)
			}
		})
	}
}

// TestThrottleWindowBothWays: a match is throttled only when one of its
// key that acted was written less than `per` before or after it, whatever
// the order the payloads arrive in.
func TestThrottleWindowBothWays(t *testing.T) {
	rs := load(t, `
rules:
  - name: t
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 10m}
    actions: [{log: {message: "{{ message.id }}"}}]
`)
	tests := []struct {
		name  string
		first int // minutes: acts
		then  int
		want  bool // throttled
	}{
		{"5 minutes after", 30, 35, true},
		{"5 minutes before (arrived late)", 30, 25, true},
		{"20 minutes before (arrived late)", 30, 10, false},
		{"20 minutes after", 30, 50, false},
		{"exactly per after", 30, 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sim engine.Sim
			now := base.Add(2 * time.Hour)
			first := feed(t, rs, &sim, now, wa("1", "q", "chat", tt.first))
			require.Len(t, first.Jobs, 1)
			second := feed(t, rs, &sim, now, wa("2", "q", "chat", tt.then))
			require.Len(t, second.Plan.Matches, 1)
			require.Equal(t, tt.want, second.Plan.Matches[0].Throttled)
			require.Equal(t, tt.want, len(second.Jobs) == 0)
		})
	}
}

// TestGroupWindowInMessageTime: a group collects the matches written
// within its window of its first message, either side, and acts once when
// the window has closed.
func TestGroupWindowInMessageTime(t *testing.T) {
	rs := load(t, `
rules:
  - name: g
    when: direction == "received"
    group: {key: "{{ chat_id }}", window: 10m}
    actions: [{log: {message: "{{ len(group) }}: {{ join(map(group, .message_id), \",\") }}"}}]
`)
	var sim engine.Sim
	now := base.Add(5 * time.Minute)
	feed(t, rs, &sim, now, wa("b", "q", "chat", 4), wa("a", "q", "chat", 1), wa("c", "q", "chat", 9), wa("late", "q", "chat", 30))
	outs := sim.Finish(rs, base.Add(time.Hour), nil, nil)
	var got []string
	for _, o := range outs {
		require.Equal(t, engine.InputGroup, o.Input)
		require.Len(t, o.Jobs, 1)
		got = append(got, string(o.Jobs[0].Request.Body))
	}
	require.Len(t, got, 2)
	require.Contains(t, got[0], `3: a,b,c`, "in the order written")
	require.Contains(t, got[1], `1: late`)
}

// TestForEachChatInSimulation: a for_each: chat schedule runs over the
// chats of a dry run and of a rule test's context, once per episode.
func TestForEachChatInSimulation(t *testing.T) {
	rs := load(t, `
rules:
  - name: waiting-chats
    schedule: "@every 5m"
    for_each: chat
    when: chat.awaiting_reply && chat.waiting_for > duration("30m")
    actions: [{log: {message: "{{ chat.id }} waits since {{ chat.awaiting_since }}"}}]
tests:
  - name: a waiting chat is reported
    run: waiting-chats
    at: 2026-11-24T11:00:00Z
    context:
      - {chat_id: "447441369136@c.us", direction: received, message: {id: "1", type: chat}, timestamp: "1763978400"}
    expect: [waiting-chats]
  - name: an answered chat is not
    run: waiting-chats
    at: 2026-11-24T11:00:00Z
    context:
      - {chat_id: "447441369136@c.us", direction: received, message: {id: "1", type: chat}, timestamp: "1763978400"}
      - {chat_id: "447441369136@c.us", direction: sent, message: {id: "2", type: chat}, timestamp: "1763978700"}
    expect: []
`)
	for _, r := range rs.RunTests() {
		require.True(t, r.Passed(), "%s: %v", r.Case.Name, r.Failures)
	}
	var sim engine.Sim
	feed(t, rs, &sim, base, wa("1", "q", "chat", 0))
	at := base.Add(time.Hour)
	outs := sim.Finish(rs, at, []string{"waiting-chats"}, nil)
	require.Len(t, outs, 1)
	require.Len(t, outs[0].Jobs, 1)
	require.Equal(t, "447441369136@c.us", outs[0].Chat.ID)
	outs = sim.Finish(rs, at.Add(5*time.Minute), []string{"waiting-chats"}, nil)
	require.Len(t, outs, 1)
	require.Empty(t, outs[0].Jobs, "the same episode is reported once")
}

// TestRunTestAtATimeTheScheduleNeverFires: a run: test must name one of
// its schedule's run times; the failure names the previous and next.
func TestRunTestAtATimeTheScheduleNeverFires(t *testing.T) {
	rs := load(t, `
rules:
  - name: digest
    schedule: "0 9 * * MON-FRI"
    timezone: Europe/London
    when: "true"
    actions: [{log: {message: "digest"}}]
tests:
  - name: saturday
    run: digest
    at: 2026-12-05T13:17:00Z
    expect: [digest]
`)
	res := rs.RunTests()
	require.Len(t, res, 1)
	require.Equal(t, []string{`at: 2026-12-05T13:17:00Z is not a run time of "digest" ("0 9 * * MON-FRI" in Europe/London): ` +
		`the previous is 2026-12-04T09:00:00Z, the next 2026-12-07T09:00:00Z`}, res[0].Failures)
}

// TestTestsNamingNoRuleAreRefused: check refuses, at its position, a test
// whose expect, fired, run or actions[].rule names no rule.
func TestTestsNamingNoRuleAreRefused(t *testing.T) {
	_, err := engine.Load(opts(), engine.Source{Name: "r.yaml", Data: []byte(`rules:
  - name: delivery-failed
    when: is_error
    actions: [{log: {message: x}}]
tests:
  - name: t
    payload: {direction: sent, message: {is_error: true}}
    expect: [delivery-fialed]
    fired: [nope]
    actions: [{rule: delivery-failed}, {rule: other}]
`)})
	require.Error(t, err)
	require.Equal(t, strings.Join([]string{
		`r.yaml:8:14: test "t": expect: no rule is named "delivery-fialed" (did you mean "delivery-failed"?)`,
		`r.yaml:9:13: test "t": fired: no rule is named "nope"`,
		`r.yaml:10:47: test "t": actions: rule: no rule is named "other"`,
	}, "\n"), err.Error())
}

// TestDedupeKeyWithoutMessageID: a payload without message.id is known by
// a hash of its body.
func TestDedupeKeyWithoutMessageID(t *testing.T) {
	a, b := []byte(`{"direction":"sent","message":{"type":"image"}}`), []byte(`{"direction":"sent","message":{"type":"chat"}}`)
	evA, err := engine.Decode(a)
	require.NoError(t, err)
	evB, err := engine.Decode(b)
	require.NoError(t, err)
	require.Regexp(t, `^sha256:[0-9a-f]{64}$`, engine.DedupeKey(evA, a))
	require.Equal(t, engine.DedupeKey(evA, a), engine.DedupeKey(evA, a))
	require.NotEqual(t, engine.DedupeKey(evA, a), engine.DedupeKey(evB, b))

	withID := &engine.Event{ChatID: "1@c.us", Direction: "sent", Message: engine.Message{ID: "sha256:abc"}}
	require.Equal(t, "sha256:abc\x00sent\x001@c.us", engine.DedupeKey(withID, []byte("x")), "an id-based key, whatever the body")
	require.Equal(t, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", engine.DedupeKey(&engine.Event{}, []byte(`{}`)))
	require.NotContains(t, engine.DedupeKey(&engine.Event{}, []byte(`{}`)), "\x00", "the two kinds never collide")

	rs := load(t, "rules: [{name: r, when: 'true', actions: [{log: {message: x}}]}]\n")
	var sim engine.Sim
	require.Len(t, feed(t, rs, &sim, base, a).Plan.Matches, 1)
	require.Empty(t, feed(t, rs, &sim, base, a).Plan.Matches, "posted twice, acted on once")
}

// TestRuleTestFailsOnARenderFailure: an action that cannot be rendered for
// a test's payload fails the test (live, it would be a dead letter).
func TestRuleTestFailsOnARenderFailure(t *testing.T) {
	rs := load(t, `
rules:
  - name: note
    when: "true"
    actions: [{http: {url: "https://crm.example.com/in/{{ text }}"}}]
tests:
  - name: a dot-dot path segment
    payload: {direction: received, message: {type: chat, text: ".."}}
    expect: [note]
`)
	res := rs.RunTests()
	require.Len(t, res, 1)
	require.Len(t, res[0].Failures, 1)
	require.Contains(t, res[0].Failures[0], `rule "note" action 1 cannot be rendered (it would be a dead letter): `)
}
