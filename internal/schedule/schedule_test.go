package schedule_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/schedule"
	"github.com/switchboard-dev/switchboard/internal/store"
)

var quiet = slog.New(slog.DiscardHandler)

const rulesYAML = `
rules:
  - name: unanswered
    when: direction == "received" && !from_team && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "{{ chat.id }} waiting {{ chat.waiting_for }}"}}]
`

// world is a store with a dispatcher and a scheduler on a clock the test
// moves.
type world struct {
	t        *testing.T
	dir      string
	s        *store.Store
	rs       *engine.RuleSet
	now      time.Time
	seq      int
	chat     string
	eventIDs map[string]int64
}

func newWorld(t *testing.T) *world { return newWorldWith(t, rulesYAML) }

func newWorldWith(t *testing.T, rules string) *world {
	rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: func(string) (string, bool) { return "", false }},
		engine.Source{Name: "r.yaml", Data: []byte(rules)})
	require.NoError(t, err)
	w := &world{t: t, dir: t.TempDir(), rs: rs, now: time.Unix(1_700_000_000, 0).UTC(), chat: "15551234567@c.us", eventIDs: map[string]int64{}}
	w.open()
	return w
}

func (w *world) open() {
	s, err := store.Open(w.t.Context(), w.dir, store.Options{Logger: quiet})
	require.NoError(w.t, err)
	w.t.Cleanup(func() { _ = s.Close() })
	w.s = s
}

func (w *world) clock() time.Time { return w.now }

// post stores a message written at `at` (direction received: from the
// customer; sent: from the team) and evaluates it.
func (w *world) post(name, direction string, at time.Time) {
	w.seq++
	sender := "15551234567"
	if direction == "sent" {
		sender = "15550000001"
	}
	body := fmt.Appendf(nil, `{"chat_id":%q,"chat_type":"individual","direction":%q,"user_phone":"15550000001",
		"message":{"id":"M%d","type":"chat","text":"x"},"timestamp":"%d","sender":{"phone":%q}}`,
		w.chat, direction, w.seq, at.Unix(), sender)
	a, err := w.s.Append(w.t.Context(), store.NewEvent{Body: body, ReceivedAt: w.now})
	require.NoError(w.t, err)
	w.eventIDs[name] = a.ID
	d := dispatch.New(dispatch.Options{Log: w.s, Rules: func() *engine.RuleSet { return w.rs }, Now: w.clock, Logger: quiet})
	_, err = d.Once(w.t.Context())
	require.NoError(w.t, err)
}

// tick moves the clock and fires what is due.
func (w *world) tick(d time.Duration) int {
	w.now = w.now.Add(d)
	sch := schedule.New(schedule.Options{Store: w.s, Rules: func() *engine.RuleSet { return w.rs }, Now: w.clock, Logger: quiet})
	n, err := sch.Once(w.t.Context())
	require.NoError(w.t, err)
	return n
}

// alerts lists the events whose unanswered alert was enqueued.
func (w *world) alerts() []int64 {
	ds, err := w.s.ListDeliveries(w.t.Context(), store.Filter{Limit: 1000})
	require.NoError(w.t, err)
	var out []int64
	for _, d := range ds {
		out = append(out, d.EventID)
	}
	return out
}

func TestUnansweredAlertsOncePerEpisode(t *testing.T) {
	w := newWorld(t)
	start := w.now
	w.post("q1", "received", start)
	w.tick(10 * time.Minute)
	w.post("q2", "received", start.Add(10*time.Minute)) // same episode
	require.Zero(t, w.tick(19*time.Minute), "nothing is due before 30 minutes")
	require.Empty(t, w.alerts())
	w.tick(2 * time.Minute) // 31 minutes after q1
	require.Equal(t, []int64{w.eventIDs["q1"]}, w.alerts(), "one alert, for the message that opened the episode")
	w.tick(20 * time.Minute) // q2's check is due too: same episode, no second alert
	require.Equal(t, []int64{w.eventIDs["q1"]}, w.alerts())
}

func TestReplyBeforeTheWaitMeansNoAlert(t *testing.T) {
	w := newWorld(t)
	start := w.now
	w.post("q", "received", start)
	w.tick(10 * time.Minute)
	w.post("r", "sent", start.Add(10*time.Minute))
	w.tick(25 * time.Minute)
	require.Empty(t, w.alerts())
}

func TestReplyArrivingBeforeTheQuestion(t *testing.T) {
	w := newWorld(t)
	start := w.now
	// Cooby posts the reply (written at +10m) before the question (written
	// at 0): the question was answered.
	w.post("r", "sent", start.Add(10*time.Minute))
	w.post("q", "received", start)
	w.tick(time.Hour)
	require.Empty(t, w.alerts())
}

func TestDelayedCheckSurvivesARestartAndFiresOnce(t *testing.T) {
	w := newWorld(t)
	w.post("q", "received", w.now)
	require.NoError(t, w.s.Close()) // a kill between scheduling and firing
	w.open()
	require.Equal(t, 1, w.tick(31*time.Minute))
	require.Equal(t, []int64{w.eventIDs["q"]}, w.alerts())
	require.NoError(t, w.s.Close())
	w.open()
	require.Zero(t, w.tick(time.Hour), "a fired check does not fire again")
	require.Len(t, w.alerts(), 1)
}

// TestPerChatScheduleOncePerEpisode: a for_each: chat rule checked every 5
// minutes reports a chat waiting over 30 minutes once, not at every run,
// and again only after the chat was answered and waits again.
func TestPerChatScheduleOncePerEpisode(t *testing.T) {
	w := newWorldWith(t, `
rules:
  - name: waiting
    schedule: "@every 5m"
    for_each: chat
    when: chat.awaiting_reply && chat.waiting_for > duration("30m")
    actions: [{log: {message: "{{ chat.id }} waiting {{ chat.waiting_for }}"}}]
`)
	start := w.now
	w.tick(0) // the schedule starts counting
	w.post("q1", "received", start)
	for range 12 { // an hour, a run every 5 minutes
		w.tick(5 * time.Minute)
	}
	require.Len(t, w.alerts(), 1, "one report for the wait, not one per run")
	w.post("r", "sent", w.now)
	w.tick(5 * time.Minute)
	w.post("q2", "received", w.now)
	for range 12 {
		w.tick(5 * time.Minute)
	}
	require.Len(t, w.alerts(), 2, "a new wait is a new episode")
}
