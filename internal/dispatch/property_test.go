package dispatch_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
)

const propertyRules = `
team: ["+1 555 000 0009"]
rules:
  - name: question
    when: direction == "received" && !from_team
    actions: [{log: {message: "{{ message.id }} awaiting={{ chat.awaiting_reply }} since={{ chat.awaiting_since }} n={{ chat.received_count }}/{{ chat.sent_count }}"}}]
  - name: every-copy
    when: type == "chat"
    dedupe: false
    actions: [{log: {message: "copy {{ message.id }} {{ direction }} by {{ user_phone }} team={{ sender.is_team }}"}}]
  - name: throttled
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 3m}
    actions: [{log: {message: "throttled {{ message.id }}"}}]
  - name: grouped
    when: type == "image"
    group: {key: "{{ chat_id }}", window: 10m}
    actions: [{log: {message: "group {{ join(map(group, .message_id), \",\") }} first {{ message.id }}"}}]
  - name: unanswered
    when: direction == "received" && !from_team && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "unanswered {{ message.id }} for {{ chat.waiting_for }} last {{ chat.last_type }}"}}]
`

// conversationSequence is a random Cooby stream: messages of three chats
// written over eight minutes by customers and two team members, posted by
// every member whose WhatsApp has them (the writer's as sent, the other's
// as received), some posted twice, all shuffled (so many arrive after
// later ones: late by minutes).
func conversationSequence(r *rand.Rand, start time.Time) [][]byte {
	chats := []struct{ id, kind, customer string }{
		{"15551230001@c.us", "individual", "15551230001"},
		{"15551230002@c.us", "individual", "15551230002"},
		{"120363000000000001@g.us", "group", "15551230003"},
	}
	members := []string{"15550000001", "15550000002"}
	types := []string{"chat", "chat", "chat", "image", "reaction", "revoked", "ciphertext"}
	var out [][]byte
	for i := range 40 {
		c := chats[r.IntN(len(chats))]
		at := start.Add(time.Duration(r.IntN(8*60)) * time.Second)
		typ := types[r.IntN(len(types))]
		fromTeam := r.IntN(3) == 0
		writer := members[r.IntN(2)]
		sender := c.customer
		if fromTeam {
			sender = writer
		}
		post := func(direction, user string, isErr bool) []byte {
			return fmt.Appendf(nil, `{"chat_id":%q,"chat_type":%q,"chat_title":"chat","direction":%q,"user_phone":%q,
				"message":{"id":"M%d","type":%q,"text":"text %d","is_error":%t},"timestamp":"%d",
				"sender":{"phone":%q,"wa_name":"w"},"participants":[]}`,
				c.id, c.kind, direction, user, i, typ, i, isErr, at.Unix(), sender)
		}
		if fromTeam {
			isErr := r.IntN(6) == 0
			out = append(out, post("sent", writer, isErr))
			if c.kind == "group" && r.IntN(2) == 0 { // the other member's copy
				out = append(out, post("received", members[1-slicesIndex(members, writer)], false))
			}
		} else {
			out = append(out, post("received", writer, false))
			if r.IntN(3) == 0 {
				out = append(out, post("received", members[1-slicesIndex(members, writer)], false))
			}
		}
		if r.IntN(5) == 0 { // posted twice
			out = append(out, out[len(out)-1])
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestLiveMatchesDryRunOverShuffledSequences: the same random sequences
// (shuffled, duplicated across team members, late by minutes) fed through
// the live path (a real store and the dispatcher, in batches of random
// sizes, with restarts) and through dry-run give the same matches, the
// same rendered requests in the same order, and the same final state.
func TestLiveMatchesDryRunOverShuffledSequences(t *testing.T) {
	for seed := range uint64(25) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			seq := conversationSequence(r, start)
			posted, finished := start.Add(9*time.Minute), start.Add(2*time.Hour)

			// Live.
			w := newWorld(t, propertyRules, posted)
			var liveMatches [][]string
			live := func() {
				w.d = dispatch.New(dispatch.Options{Log: w.s, Rules: func() *engine.RuleSet { return w.rs }, Logger: quiet,
					Now: func() time.Time { return w.now }, Batch: 1 + r.IntN(8),
					OnEvaluated: func(m []string) { liveMatches = append(liveMatches, m) }})
			}
			live()
			for i := 0; i < len(seq); {
				n := 1 + r.IntN(6)
				w.post(seq[i:min(i+n, len(seq))]...)
				i += n
				w.run()
				if r.IntN(4) == 0 {
					w.reopen()
					live()
				}
			}
			w.at(finished)

			// Dry run of the same sequence.
			rs := w.rs
			var s dryrun.Session
			var dryMatches [][]string
			var dryJobs []sent
			take := func(rep *dryrun.Report) {
				require.Empty(t, rep.Error)
				for _, m := range rep.Matched {
					if m.Throttled {
						continue
					}
					for _, a := range m.Actions {
						dryJobs = append(dryJobs, sent{Rule: m.Rule, Body: compact(t, a.Request)})
					}
				}
			}
			for i, raw := range seq {
				rep := s.Run(rs, fmt.Sprint(i), raw, dryrun.Options{Now: posted})
				names := []string{}
				for _, m := range rep.Matched {
					names = append(names, m.Rule)
				}
				dryMatches = append(dryMatches, names)
				take(rep)
			}
			for _, rep := range s.Finish(rs, dryrun.Options{Now: finished}) {
				take(rep)
			}

			var liveJobs []sent
			for _, j := range jobs(t, w.s) {
				req, err := delivery.DecodeRequest(j.Request)
				require.NoError(t, err)
				wire, err := rs.Wire(req) // as it is sent, and as dry-run prints it
				require.NoError(t, err)
				data, err := actions.JSON(wire)
				require.NoError(t, err)
				liveJobs = append(liveJobs, sent{Rule: j.Rule, Body: compact(t, data)})
			}
			for i := range liveMatches {
				if liveMatches[i] == nil {
					liveMatches[i] = []string{}
				}
			}
			require.Equal(t, dryMatches, liveMatches, "matches")
			require.Equal(t, dryJobs, liveJobs, "rendered requests, in order")
			require.Equal(t, describeState(s.State()), w.state(), "final state")
			require.NotEmpty(t, liveJobs)
		})
	}
}

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(raw, &v))
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}
