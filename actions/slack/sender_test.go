package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/slack"
	"github.com/switchboard-dev/switchboard/engine"
)

// canary is a secret (webhook path, bot token) that must never show in an
// error or a log line.
const canary = "canary-5d1e9b7a3c2f4e60"

// received is one request as a sink saw it.
type received struct {
	Method, URL string
	Header      http.Header
	Body        string
}

// newSink starts a loopback Slack stand-in that records every request and
// answers with respond.
func newSink(t *testing.T, respond http.HandlerFunc) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)}
		respond(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

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
	rs, err := engine.Load(engine.Options{
		Kinds:     builtin.Kinds(),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, engine.Source{Name: "rules.yaml", Data: []byte(slackRules(action))})
	require.NoError(t, err)
	data, err := json.Marshal(withText("<!channel> hi & bye"))
	require.NoError(t, err)
	out := renderJSON(t, rs, data)
	require.Len(t, out, 1)
	require.NoError(t, out[0].Err)
	r := out[0].Request
	require.NotContains(t, string(r.Body), canary, "a secret is stored")
	r.Key = "evt-1:r:0"
	var dest any
	if r.Destination != "" {
		dest = rs.Destinations[r.Destination].Config
	}
	s, err := slack.Kind{}.NewSender(dest, o)
	require.NoError(t, err)
	return rs, r, s
}

func reply(code int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// TestPostIsWhatWireSays: Slack receives exactly the wire form.
func TestPostIsWhatWireSays(t *testing.T) {
	for _, action := range []string{`{destination: team, text: "{{ text }}"}`, `{destination: bot, text: "{{ text }}"}`} {
		srv, got := newSink(t, reply(200, nil, `{"ok":true,"channel":"C1","ts":"1.2"}`))
		rs, r, s := setup(t, srv.URL, action, actions.SenderOptions{})
		wire, err := rs.Wire(r)
		require.NoError(t, err)
		w := wire.(*actions.HTTPRequest)
		require.NoError(t, s.Send(context.Background(), r))
		sent := <-got
		require.Equal(t, w.Method, sent.Method)
		require.Equal(t, w.URL, sent.URL)
		require.Equal(t, w.Body, sent.Body)
		for k, v := range w.Header {
			require.Equal(t, v, sent.Header.Get(k), k)
		}
		for k := range sent.Header {
			_, inWire := w.Header[k]
			require.True(t, inWire || k == "User-Agent" || k == "Content-Length" || k == "Accept-Encoding", "extra header %s", k)
		}
		require.Equal(t, r.Key, sent.Header.Get("Idempotency-Key"))
		require.Contains(t, sent.Body, `&lt;!channel&gt; hi &amp; bye`)
	}
}

func TestDefaultChannelAndToken(t *testing.T) {
	srv, got := newSink(t, reply(200, nil, `{"ok":true}`))
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
		{name: "webhook ok", action: "team", respond: reply(200, nil, "ok"), ok: true},
		{name: "webhook invalid_payload", action: "team", respond: reply(400, nil, "invalid_payload"), permanent: true, want: "HTTP 400 Bad Request: invalid_payload"},
		{name: "webhook channel_not_found", action: "team", respond: reply(404, nil, "channel_not_found"), permanent: true, want: "channel_not_found"},
		{name: "webhook 429", action: "team", respond: reply(429, map[string]string{"Retry-After": "7"}, "rate limited"), retryAfter: 7 * time.Second},
		{name: "webhook 500", action: "team", respond: reply(500, nil, "rollup_error"), want: "HTTP 500"},
		{name: "api ok", action: "bot", respond: reply(200, nil, `{"ok":true,"ts":"1.2"}`), ok: true},
		{name: "api ratelimited", action: "bot", respond: reply(200, map[string]string{"Retry-After": "3"}, `{"ok":false,"error":"ratelimited"}`), retryAfter: 3 * time.Second, want: "ratelimited"},
		{name: "api ratelimited, no Retry-After", action: "bot", respond: reply(200, nil, `{"ok":false,"error":"ratelimited"}`), retryAfter: 30 * time.Second},
		{name: "api 429", action: "bot", respond: reply(429, map[string]string{"Retry-After": "7"}, `{"ok":false,"error":"ratelimited"}`), retryAfter: 7 * time.Second},
		{name: "api invalid_auth", action: "bot", respond: reply(200, nil, `{"ok":false,"error":"invalid_auth"}`), permanent: true, want: `slack: chat.postMessage to destination "bot": invalid_auth`},
		{name: "api channel_not_found", action: "bot", respond: reply(200, nil, `{"ok":false,"error":"channel_not_found"}`), permanent: true},
		{name: "api not_in_channel", action: "bot", respond: reply(200, nil, `{"ok":false,"error":"not_in_channel"}`), permanent: true},
		{name: "api internal_error", action: "bot", respond: reply(200, nil, `{"ok":false,"error":"internal_error"}`), want: "internal_error"},
		{name: "api answer that is not JSON", action: "bot", respond: reply(200, nil, `<html>proxy</html>`), want: `no "ok" field`},
		{name: "api ok with a long echo", action: "bot", respond: reply(200, nil, `{"ok":true,"message":{"text":"`+strings.Repeat("x", 200_000)+`"}}`), ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newSink(t, tt.respond)
			_, r, s := setup(t, srv.URL, `{destination: `+tt.action+`, text: hi}`, actions.SenderOptions{})
			err := s.Send(context.Background(), r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, tt.permanent, actions.IsPermanent(err), err.Error())
			var later *actions.RetryAfterError
			require.Equal(t, tt.retryAfter != 0, errors.As(err, &later), err.Error())
			if later != nil {
				require.Equal(t, tt.retryAfter, later.After)
			}
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
				base := "http://" + freeAddr(t)
				if respond != nil {
					srv, _ := newSink(t, respond)
					base = srv.URL
				}
				var logs bytes.Buffer
				o := actions.SenderOptions{Timeout: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
				_, r, s := setup(t, base, `{destination: `+action+`, text: hi}`, o)
				err := s.Send(context.Background(), r)
				require.Error(t, err)
				require.NotContains(t, err.Error(), canary)
				require.NotContains(t, err.Error(), base)
				require.NotContains(t, logs.String(), canary)
				if respond == nil {
					require.EqualError(t, err, `slack: POST to destination "`+action+`": connection refused`)
				}
			})
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
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
