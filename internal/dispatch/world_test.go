package dispatch_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// world is the live evaluation path on a real store: messages are
// appended as ingest appends them (deduplicated by engine.DedupeKey) and a
// dispatcher evaluates them on a clock the test moves. reopen simulates a
// restart.
type world struct {
	t   *testing.T
	dir string
	s   *store.Store
	rs  *engine.RuleSet
	now time.Time
	d   *dispatch.Dispatcher
}

func newWorld(t *testing.T, rulesYAML string, now time.Time) *world {
	w := &world{t: t, dir: t.TempDir(), rs: rules(t, rulesYAML), now: now}
	w.reopen()
	return w
}

// reopen closes the store (if open) and opens it again with a new
// dispatcher: everything in memory is lost.
func (w *world) reopen() {
	if w.s != nil {
		require.NoError(w.t, w.s.Close())
	}
	w.s = openStore(w.t, w.dir)
	w.d = dispatch.New(dispatch.Options{Log: w.s, Rules: func() *engine.RuleSet { return w.rs }, Logger: quiet,
		Now: func() time.Time { return w.now }})
}

// post appends raw payloads as ingest would, received now, and returns
// their row ids.
func (w *world) post(raws ...[]byte) []int64 {
	w.t.Helper()
	var ids []int64
	for _, raw := range raws {
		ev, err := engine.Decode(raw)
		require.NoError(w.t, err)
		a, err := w.s.Append(w.t.Context(), store.NewEvent{Body: raw, DedupeKey: engine.DedupeKey(ev, raw), ReceivedAt: w.now})
		require.NoError(w.t, err)
		ids = append(ids, a.Row)
	}
	return ids
}

// run evaluates until nothing is left at the current time.
func (w *world) run() {
	w.t.Helper()
	for range 1000 {
		before := w.snapshot()
		n, err := w.d.Once(w.t.Context())
		require.NoError(w.t, err)
		if n == 0 && w.snapshot() == before {
			return
		}
	}
	w.t.Fatal("the dispatcher never went idle")
}

// snapshot sums up what the store holds, to tell when work stopped.
func (w *world) snapshot() string {
	var n, timers int
	st, err := w.s.Stats(w.t.Context())
	require.NoError(w.t, err)
	ds, err := w.s.ListDeliveries(w.t.Context(), store.Filter{Limit: 100000})
	require.NoError(w.t, err)
	n = len(ds)
	next, err := w.s.NextTimer(w.t.Context())
	require.NoError(w.t, err)
	if !next.IsZero() {
		timers = int(next.Unix())
	}
	return fmt.Sprint(st.Cursor, n, timers)
}

// at moves the clock and evaluates what is due.
func (w *world) at(t time.Time) {
	w.now = t
	w.run()
}

// sent is one job as the world's sink would see it.
type sent struct {
	Key  string
	Rule string
	Body string
}

// jobs lists every job made, in id order, with its rendered request.
func (w *world) jobs() []sent {
	w.t.Helper()
	var out []sent
	for _, j := range jobs(w.t, w.s) {
		req, err := delivery.DecodeRequest(j.Request)
		require.NoError(w.t, err)
		out = append(out, sent{Key: j.IdempotencyKey, Rule: j.Rule, Body: string(req.Body)})
	}
	return out
}

// texts lists the log messages of the jobs of a rule.
func (w *world) texts(rule string) []string {
	var out []string
	for _, j := range w.jobs() {
		if j.Rule != rule {
			continue
		}
		var b struct{ Message string }
		require.NoError(w.t, json.Unmarshal([]byte(j.Body), &b))
		out = append(out, b.Message)
	}
	return out
}

// state reads the conversation state back from the store, as a restarted
// dispatcher would see it, in a comparable form.
func (w *world) state() string {
	w.t.Helper()
	l, err := w.s.LoadState(w.t.Context())
	require.NoError(w.t, err)
	chats, err := w.s.AllChats(w.t.Context(), 100000)
	require.NoError(w.t, err)
	return describeState(dispatch.Restore(l, chats, nil))
}

// describeState prints a State in a stable, comparable form.
func describeState(st *engine.State) string {
	var b strings.Builder
	team := make([]string, 0, len(st.Team))
	for p := range st.Team {
		team = append(team, p)
	}
	slices.Sort(team)
	fmt.Fprintf(&b, "team %v\n", team)
	ids := make([]string, 0, len(st.Chats))
	for id := range st.Chats {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		c := *st.Chats[id]
		pending := c.Pending
		c.Pending = nil
		data, _ := json.Marshal(c)
		fmt.Fprintf(&b, "chat %s %s pending %v\n", id, data, utcList(pending))
	}
	var ths []string
	for id, acts := range st.Throttles {
		ths = append(ths, fmt.Sprintf("throttle %s/%s %v", id.Rule, id.Key, utcList(acts)))
	}
	slices.Sort(ths)
	for _, l := range ths {
		b.WriteString(l + "\n")
	}
	var gs []*engine.OpenGroup
	for _, g := range st.Groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *engine.OpenGroup) int { return cmp.Compare(a.Start.UnixMilli(), b.Start.UnixMilli()) })
	for _, g := range gs {
		var items []string
		for _, it := range g.Items {
			items = append(items, it.MessageID+"@"+it.Time.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "group %s/%s %s first %d %v\n", g.Rule, g.Key, g.Start.UTC().Format(time.RFC3339), g.EventID, items)
	}
	var scheds []string
	for r, at := range st.Schedules {
		scheds = append(scheds, fmt.Sprintf("schedule %s %s", r, at.UTC().Format(time.RFC3339)))
	}
	slices.Sort(scheds)
	for _, l := range scheds {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func utcList(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.UTC().Format(time.RFC3339)
	}
	return out
}

// msg is a message of chat 15551234567@c.us written at `at`: from the
// customer (received) or the team (sent), posted by member 15550000001.
func msg(id, direction string, at time.Time) []byte {
	sender := "15551234567"
	if direction == "sent" {
		sender = "15550000001"
	}
	return fmt.Appendf(nil, `{"chat_id":"15551234567@c.us","chat_type":"individual","direction":%q,"user_phone":"15550000001",
		"message":{"id":%q,"type":"chat","text":"x"},"timestamp":"%d","sender":{"phone":%q,"wa_name":"someone"}}`,
		direction, id, at.Unix(), sender)
}
