package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

func msg(direction, senderPhone string, at int64) *engine.Event {
	return &engine.Event{ChatID: "447441369136@c.us", Direction: direction, Sender: engine.Person{Phone: senderPhone},
		Message: engine.Message{Type: "chat", Text: direction}, Time: time.Unix(at, 0).UTC()}
}

func TestConversationIsOrderIndependent(t *testing.T) {
	const customer, teammate = "447441369136", "447441368384"
	team := func(p string) bool { return engine.NormalizePhone(p) == teammate }
	tests := []struct {
		name     string
		msgs     []*engine.Event
		awaiting bool
		since    int64
	}{
		{"a question", []*engine.Event{msg("received", customer, 100)}, true, 100},
		{"question then reply", []*engine.Event{msg("received", customer, 100), msg("sent", teammate, 200)}, false, 0},
		{"the reply arrives first", []*engine.Event{msg("sent", teammate, 200), msg("received", customer, 100)}, false, 0},
		{"two questions: waiting since the first", []*engine.Event{msg("received", customer, 300), msg("received", customer, 100)}, true, 100},
		{"a reply, then a new question", []*engine.Event{msg("received", customer, 100), msg("sent", teammate, 200), msg("received", customer, 300)}, true, 300},
		{"a late reply answers only what came before it", []*engine.Event{msg("received", customer, 100), msg("received", customer, 300), msg("sent", teammate, 200)}, true, 300},
		{"a teammate's group message, received by another member, is a reply", []*engine.Event{msg("received", customer, 100), msg("received", "+44 7441 368384", 200)}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c engine.Conversation
			for _, m := range tt.msgs {
				c.Observe(m, engine.FromTeam(m, team), m.Time)
			}
			s := c.State(time.Unix(1000, 0))
			require.Equal(t, tt.awaiting, s.AwaitingReply)
			if tt.awaiting {
				require.Equal(t, time.Unix(tt.since, 0).UTC(), s.AwaitingSince)
				require.Equal(t, time.Duration(1000-tt.since)*time.Second, s.WaitingFor)
			} else {
				require.True(t, s.AwaitingSince.IsZero())
			}
			require.Equal(t, len(tt.msgs), s.ReceivedCount+s.SentCount)
		})
	}
}

func TestChatStateInConditions(t *testing.T) {
	rs := load(t, `
team: ["+44 7441 368384"]
rules:
  - name: waiting
    when: chat.awaiting_reply && chat.waiting_for > duration("30m") && !from_team
    actions: [{log: {message: "{{ chat.id }} waiting since {{ chat.awaiting_since }}"}}]
  - name: teammate
    when: sender.is_team
    actions: [{log: {message: x}}]
`)
	ev := msg("received", "447441369136", 1000)
	var c engine.Conversation
	c.Observe(ev, false, ev.Time)
	state := c.State(time.Unix(1000+3600, 0))
	p, err := rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1000+3600, 0), Chat: &state})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Equal(t, "waiting", p.Matches[0].Rule.Name)

	// The rules' team: makes a received group message a teammate's.
	mate := msg("received", "447441368384", 2000)
	p, err = rs.Plan(mate, engine.PlanOptions{})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Equal(t, "teammate", p.Matches[0].Rule.Name)
	require.True(t, engine.FromTeam(mate, rs.IsTeam))

	// A payload cannot claim to be the team.
	ev2, err := engine.Decode([]byte(`{"direction":"received","sender":{"phone":"1","is_team":true}}`))
	require.NoError(t, err)
	require.False(t, ev2.Sender.IsTeam)
}

// TestDelayedRule: a rule with after: is not acted on when it matches; it
// is due after the message's time, and a recheck then acts only if its
// condition still holds with the state of that moment.
func TestDelayedRule(t *testing.T) {
	rs := load(t, `
rules:
  - name: unanswered
    when: direction == "received" && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "{{ chat.id }} unanswered for {{ chat.waiting_for }}"}}]
`)
	q := msg("received", "1", 1000)
	var c engine.Conversation
	c.Observe(q, false, q.Time)
	st := c.State(q.Time)
	p, err := rs.Plan(q, engine.PlanOptions{Now: q.Time, Chat: &st})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Empty(t, p.Matches[0].Actions, "nothing is done yet")
	due := p.Matches[0].DueAt
	require.Equal(t, q.Time.Add(30*time.Minute), due)

	// Still unanswered at the due time: it acts.
	st = c.State(due)
	p, err = rs.Plan(q, engine.PlanOptions{Now: due, Chat: &st, Recheck: "unanswered"})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Len(t, p.Matches[0].Actions, 1)
	require.Contains(t, string(p.Matches[0].Actions[0].Request.Body), "unanswered for 30m")

	// Answered in the meantime: the recheck does nothing.
	c.Observe(msg("sent", "2", 1500), true, time.Unix(1500, 0))
	st = c.State(due)
	p, err = rs.Plan(q, engine.PlanOptions{Now: due, Chat: &st, Recheck: "unanswered"})
	require.NoError(t, err)
	require.Empty(t, p.Matches)
}

// TestScheduleAcrossDST: a weekday 09:00 schedule in Europe/London fires
// at 09:00 local on both sides of the change to summer time (29 March 2026),
// which is 09:00 UTC before and 08:00 UTC after.
func TestScheduleAcrossDST(t *testing.T) {
	rs := load(t, `
timezone: Europe/London
rules:
  - name: digest
    schedule: "0 9 * * MON-FRI"
    when: digest.received > 0
    actions: [{log: {message: "{{ digest.received }} since {{ digest.since }}"}}]
`)
	r := rs.Rule("digest")
	require.NotNil(t, r.Schedule)
	at := time.Date(2026, 3, 26, 12, 0, 0, 0, time.UTC) // Thursday
	var got []string
	for range 4 {
		at = r.Schedule.Next(at)
		got = append(got, at.UTC().Format("Mon 2006-01-02 15:04Z"))
	}
	require.Equal(t, []string{
		"Fri 2026-03-27 09:00Z",
		"Mon 2026-03-30 08:00Z",
		"Tue 2026-03-31 08:00Z",
		"Wed 2026-04-01 08:00Z",
	}, got)

	// It never matches a message, and runs with the digest.
	p, err := rs.Plan(msg("received", "1", 1000), engine.PlanOptions{})
	require.NoError(t, err)
	require.Empty(t, p.Matches)
	p, err = rs.PlanScheduled(r, &engine.Digest{Received: 3, Since: time.Unix(0, 0).UTC()}, engine.PlanOptions{})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Contains(t, string(p.Matches[0].Actions[0].Request.Body), "3 since 1970-01-01T00:00:00Z")
	p, err = rs.PlanScheduled(r, &engine.Digest{}, engine.PlanOptions{})
	require.NoError(t, err)
	require.Empty(t, p.Matches, "nothing to report: the condition is false")
}

func TestScheduleErrors(t *testing.T) {
	for src, want := range map[string]string{
		"schedule: \"61 * * * *\"":                            "schedule: ",
		"schedule: \"CRON_TZ=UTC\"":                           "write the time zone as timezone:",
		"schedule: \"0 9 * * *\"\n    timezone: Mars/Olympus": `unknown time zone "Mars/Olympus"`,
		"schedule: \"0 0 31 2 *\"":                            "never fires",
		"schedule: \"@daily\"\n    missed: later":             "missed: expected run or skip",
		"schedule: \"@daily\"\n    after: 5m":                 "cannot also have after:",
		"timezone: UTC":                                       "timezone:, missed: and for_each: go with schedule:",
	} {
		got := loadErr(t, "rules:\n  - name: s\n    "+src+"\n    when: \"true\"\n    actions: [{log: {message: x}}]\n")
		require.Contains(t, got, want, src)
	}
}

func TestThrottleRenderedKey(t *testing.T) {
	rs := load(t, `
rules:
  - name: ping
    when: "true"
    throttle: {key: "{{ chat_id }}/{{ direction }}", per: 10m}
    actions: [{log: {message: x}}]
`)
	p, err := rs.Plan(msg("received", "1", 1000), engine.PlanOptions{})
	require.NoError(t, err)
	require.Equal(t, "447441369136@c.us/received", p.Matches[0].ThrottleKey)
	require.Equal(t, 10*time.Minute, rs.Rule("ping").Throttle.Per)
	require.Contains(t, loadErr(t, "rules:\n  - name: p\n    when: \"true\"\n    throttle: {per: 10m}\n    actions: [{log: {message: x}}]\n"), "throttle: needs key:")
	require.Contains(t, loadErr(t, "rules:\n  - name: p\n    when: \"true\"\n    throttle: {key: \"{{ chat_idd }}\", per: 10m}\n    actions: [{log: {message: x}}]\n"), "unknown name chat_idd")
}

func TestGroupLoadErrors(t *testing.T) {
	require.Contains(t, loadErr(t, "rules:\n  - name: g\n    when: \"true\"\n    group: {key: \"{{ chat_id }}\"}\n    actions: [{log: {message: x}}]\n"), "group: needs key:")
	require.Contains(t, loadErr(t, "rules:\n  - name: g\n    when: \"true\"\n    after: 5m\n    group: {key: \"{{ chat_id }}\", window: 1m}\n    actions: [{log: {message: x}}]\n"), "does not combine")
	rs := load(t, "rules:\n  - name: g\n    when: \"true\"\n    group: {key: \"{{ chat_id }}\", window: 1m}\n    actions: [{log: {message: \"{{ len(group) }}\"}}]\n")
	p, err := rs.Plan(msg("received", "1", 1000), engine.PlanOptions{})
	require.NoError(t, err)
	require.Equal(t, "447441369136@c.us", p.Matches[0].GroupKey)
	require.Empty(t, p.Matches[0].Actions, "a grouped rule acts when its window closes")
}
