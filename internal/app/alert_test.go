package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeadLettersAreAnnounced: deliveries refused for good become dead
// letters; on_dead_letter: sends a summary of them, rendered as a Slack
// message, to a real loopback Slack-like sink: one message (or, if the
// dead letters straddle the gathering time, two) for the whole burst, not
// one per dead letter, counting every one of them.
func TestDeadLettersAreAnnounced(t *testing.T) {
	crm := newSink(t, func(int, *http.Request) int { return http.StatusBadRequest })
	slack := newSink(t, nil)
	svc := start(t, `
destinations:
  crm: {kind: http, url: "`+crm.URL+`"}
  ops: {kind: slack, webhook_url: "`+slack.URL+`/services/T/B/x", rate: none}
on_dead_letter: {destination: ops, every: 3s}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: crm, url: "/in", body: {id: "{{ message.id }}"}}}]
`, nil)
	const n = 40
	for i := range n {
		status, _ := svc.post(t, []byte(fmt.Sprintf(`{"direction":"received","message":{"id":"DL%03d","type":"chat"}}`, i)))
		require.Equal(t, http.StatusAccepted, status)
	}
	announced := func() (count, messages int, texts []string) {
		for _, r := range slack.requests() {
			var m struct {
				Text string `json:"text"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.Body), &m), r.Body)
			var c int
			_, err := fmt.Sscanf(m.Text, "*Switchboard: %d new dead letter", &c)
			require.NoError(t, err, m.Text)
			count += c
			messages++
			texts = append(texts, m.Text)
		}
		return count, messages, texts
	}
	waitFor(t, func() bool { c, _, _ := announced(); return c == n })
	require.Len(t, crm.requests(), n, "a refusal (400) is not retried")
	_, messages, texts := announced()
	require.LessOrEqual(t, messages, 2, "one summary per window, not one per dead letter")
	require.Contains(t, texts[len(texts)-1], "- crm, rule fwd: ")
	require.Contains(t, texts[len(texts)-1], "last reason: ")
	require.Contains(t, texts[len(texts)-1], "`switchboard replay --dead`")
	require.Equal(t, float64(n), svc.metric(t, `switchboard_dead_letters_total{destination="crm",rule="fwd"}`))
	require.Contains(t, svc.logs.String(), "level=ERROR msg=\"delivery: gave up; the job is a dead letter\"")
	require.NotContains(t, strings.ToLower(svc.logs.String()), "summary could not be sent")
}
