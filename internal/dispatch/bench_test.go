package dispatch_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

const benchRules = `
rules:
  - name: question
    when: direction == "received" && !from_team
    actions: [{log: {message: "{{ message.id }} waiting since {{ chat.awaiting_since }}"}}]
  - name: unanswered
    when: direction == "received" && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions: [{log: {message: "{{ chat.id }}"}}]
`

// BenchmarkDispatchEvent is the cost of evaluating and committing one
// customer message, one batch each, on a real store: in a new chat, and in
// a chat already holding 256 unanswered messages (the bound). The two
// should cost the same: a chat's state is changed by rows, never
// rewritten whole.
func BenchmarkDispatchEvent(b *testing.B) {
	for _, tc := range []struct {
		name    string
		pending int
	}{{"new-chat", 0}, {"chat-with-256-unanswered", 256}} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := store.Open(b.Context(), b.TempDir(), store.Options{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: func(string) (string, bool) { return "", false }},
				engine.Source{Name: "r.yaml", Data: []byte(benchRules)})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
			d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet, Batch: 1,
				Now: func() time.Time { return start.Add(time.Hour) }})
			body := func(i int) []byte {
				chat := "15551234567"
				if tc.pending == 0 {
					chat = fmt.Sprint(16000000000 + i)
				}
				return fmt.Appendf(nil, `{"chat_id":"%s@c.us","chat_type":"individual","direction":"received","user_phone":"15550000001",
					"message":{"id":"M%d","type":"chat","text":"hello"},"timestamp":"%d","sender":{"phone":%q,"wa_name":"x"}}`,
					chat, i, start.Add(time.Duration(i)*time.Second).Unix(), chat)
			}
			add := func(from, n int) {
				for i := from; i < from+n; i++ {
					if _, err := s.Append(b.Context(), store.NewEvent{Body: body(i), DedupeKey: fmt.Sprint("M", i)}); err != nil {
						b.Fatal(err)
					}
				}
			}
			drain := func(n int) {
				for done := 0; done < n; {
					k, err := d.Once(b.Context())
					if err != nil {
						b.Fatal(err)
					}
					done += k
				}
			}
			add(0, tc.pending)
			drain(tc.pending)
			add(tc.pending, b.N)
			b.ResetTimer()
			drain(b.N)
		})
	}
}
