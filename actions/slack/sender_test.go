package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/slack"
	"github.com/switchboard-dev/switchboard/engine"
)

// canary is a secret (webhook path, bot token) that must never show in an
// error or a log line.
const canary = "canary-5d1e9b7a3c2f4e60"

// slackRules has an incoming-webhook destination `team` and a token
// destination `bot`, both on base, and one action.
func slackRules(action string) string {
	return `destinations:
  team: {kind: slack, webhook_url: "${HOOK_URL}"}
  bot: {kind: slack, token: "${BOT_TOKEN}", channel: "#support", api_url: "${API_URL}"}
rules:
  - {name: r, when: "true", actions: [slack: ` + action + `]}
`
}

// setup loads slackRules for a sink at base, renders the action and builds
// its sender.
func setup(t *testing.T, base, action string, o actions.SenderOptions) (*engine.RuleSet, actions.Request, actions.Sender) {
	t.Helper()
	env := map[string]string{
		"HOOK_URL":  base + "/services/T000/B000/" + canary,
		"BOT_TOKEN": "xoxb-" + canary,
		"API_URL":   base + "/api",
	}
	rs := actionstest.Load(t, slackRules(action), env)
	r := actionstest.RenderOnly(t, rs, actionstest.WithText("<!channel> hi & bye"))
	actionstest.Stored(t, r, canary)
	r.Key = "evt-1:r:0"
	return rs, r, actionstest.NewSender(t, slack.Kind, rs, r, o)
}

// TestPostIsWhatWireSays: Slack receives exactly the wire form.
func TestPostIsWhatWireSays(t *testing.T) {
	for _, action := range []string{`{destination: team, text: "{{ text }}"}`, `{destination: bot, text: "{{ text }}"}`} {
		srv, got := actionstest.NewSink(t, actionstest.Reply(200, nil, `{"ok":true,"channel":"C1","ts":"1.2"}`))
		rs, r, s := setup(t, srv.URL, action, actions.SenderOptions{})
		wire, err := rs.Wire(r)
		require.NoError(t, err)
		w := wire.(*actions.HTTPRequest)
		require.NoError(t, s.Send(context.Background(), r))
		sent := <-got
		actionstest.RequireSentAsWired(t, w, sent)
		require.Equal(t, r.Key, sent.Header.Get("Idempotency-Key"))
		require.Contains(t, sent.Body, `&lt;!channel&gt; hi &amp; bye`)
	}
}

func TestDefaultChannelAndToken(t *testing.T) {
	srv, got := actionstest.NewSink(t, actionstest.Reply(200, nil, `{"ok":true}`))
	_, r, s := setup(t, srv.URL, `{destination: bot, text: hi}`, actions.SenderOptions{})
	require.NoError(t, s.Send(context.Background(), r))
	sent := <-got
	require.Equal(t, srv.URL+"/api/chat.postMessage", sent.URL)
	require.Equal(t, "Bearer xoxb-"+canary, sent.Header.Get("Authorization"))
	var m slack.Message
	require.NoError(t, json.Unmarshal([]byte(sent.Body), &m))
	require.Equal(t, "#support", m.Channel)
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		action     string
		respond    http.HandlerFunc
		ok         bool
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{name: "webhook ok", action: "team", respond: actionstest.Reply(200, nil, "ok"), ok: true},
		{name: "webhook invalid_payload", action: "team", respond: actionstest.Reply(400, nil, "invalid_payload"), permanent: true, want: "HTTP 400 Bad Request: invalid_payload"},
		{name: "webhook channel_not_found", action: "team", respond: actionstest.Reply(404, nil, "channel_not_found"), permanent: true, want: "channel_not_found"},
		{name: "webhook 429", action: "team", respond: actionstest.Reply(429, map[string]string{"Retry-After": "7"}, "rate limited"), retryAfter: 7 * time.Second},
		{name: "webhook 500", action: "team", respond: actionstest.Reply(500, nil, "rollup_error"), want: "HTTP 500"},
		{name: "api ok", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":true,"ts":"1.2"}`), ok: true},
		{name: "api ratelimited", action: "bot", respond: actionstest.Reply(200, map[string]string{"Retry-After": "3"}, `{"ok":false,"error":"ratelimited"}`), retryAfter: 3 * time.Second, want: "ratelimited"},
		{name: "api ratelimited, no Retry-After", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":false,"error":"ratelimited"}`), retryAfter: 30 * time.Second},
		{name: "api 429", action: "bot", respond: actionstest.Reply(429, map[string]string{"Retry-After": "7"}, `{"ok":false,"error":"ratelimited"}`), retryAfter: 7 * time.Second},
		{name: "api invalid_auth", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":false,"error":"invalid_auth"}`), permanent: true, want: `slack: chat.postMessage to destination "bot": invalid_auth`},
		{name: "api channel_not_found", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":false,"error":"channel_not_found"}`), permanent: true},
		{name: "api not_in_channel", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":false,"error":"not_in_channel"}`), permanent: true},
		{name: "api internal_error", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":false,"error":"internal_error"}`), want: "internal_error"},
		{name: "api answer that is not JSON", action: "bot", respond: actionstest.Reply(200, nil, `<html>proxy</html>`), want: `no "ok" field`},
		{name: "api ok with a long echo", action: "bot", respond: actionstest.Reply(200, nil, `{"ok":true,"message":{"text":"`+strings.Repeat("x", 200_000)+`"}}`), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := actionstest.NewSink(t, tt.respond)
			_, r, s := setup(t, srv.URL, `{destination: `+tt.action+`, text: hi}`, actions.SenderOptions{})
			err := s.Send(context.Background(), r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			actionstest.RequireFailure(t, err, tt.permanent, tt.retryAfter)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), canary)
		})
	}
}

// TestSecretsNeverShow: the webhook path and the token never show in an
// error or a log line, whatever happens.
func TestSecretsNeverShow(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		fmt.Fprintf(w, "invalid_token %s %s", r.URL.Path, r.Header.Get("Authorization"))
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}
	for _, action := range []string{"team", "bot"} {
		for name, respond := range map[string]http.HandlerFunc{"refused": nil, "echo": echo, "timeout": slow} {
			t.Run(action+" "+name, func(t *testing.T) {
				base := "http://" + actionstest.FreeAddr(t)
				if respond != nil {
					srv, _ := actionstest.NewSink(t, respond)
					base = srv.URL
				}
				var logs bytes.Buffer
				o := actions.SenderOptions{Timeout: 50 * time.Millisecond, Logger: actionstest.DebugLogger(&logs)}
				_, r, s := setup(t, base, `{destination: `+action+`, text: hi}`, o)
				err := actionstest.AssertSendLeaksNoSecret(t, s, r, &logs, canary)
				require.NotContains(t, err.Error(), base)
				if respond == nil {
					require.EqualError(t, err, `slack: POST to destination "`+action+`": connection refused`)
				}
			})
		}
	}
}

func TestWireErrors(t *testing.T) {
	post := json.RawMessage(`{"message":{"text":"hi","unfurl_links":false,"unfurl_media":false}}`)
	_, err := slack.Wire(nil, actions.Request{Body: post})
	require.ErrorContains(t, err, "no webhook_url and no destination")
	_, err = slack.Wire(nil, actions.Request{Destination: "team", Body: post})
	require.ErrorContains(t, err, `destination "team" is not configured`)
	_, err = slack.Wire(&slack.Destination{WebhookURL: "https://hooks.slack.com/x"}, actions.Request{Body: post, Key: "a\nb"})
	require.ErrorContains(t, err, "line break")
	_, err = slack.Wire(&slack.Destination{Token: "t", APIURL: slack.DefaultAPIURL}, actions.Request{Body: post})
	require.ErrorContains(t, err, "channel: empty channel")
}

// TestBlockNumbersKeepTheirDigits: numbers in blocks are posted as
// written, not through float64.
func TestBlockNumbersKeepTheirDigits(t *testing.T) {
	post := json.RawMessage(`{"message":{"blocks":[{"type":"section","n":12345678901234567890}],"unfurl_links":false,"unfurl_media":false}}`)
	w, err := slack.Wire(&slack.Destination{WebhookURL: "https://hooks.slack.com/x"}, actions.Request{Body: post})
	require.NoError(t, err)
	require.Contains(t, w.Body, `"n":12345678901234567890`)
}
