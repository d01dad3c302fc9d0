package telegram_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/telegram"
	"github.com/switchboard-dev/switchboard/engine"
)

// token is the bot token of the tests: it must never show.
const token = "7012345678:AAF-canary-9c1f2e3d4b5a69788796a5b4"

// rulesWith is a rules file with the destination `bot` (default chat 42)
// and one telegram action, on line 7, after "      - telegram: " (its
// mapping starts at column 19).
func rulesWith(action string) string { return rulesAt("http://127.0.0.1:9", action) }

// rulesAt is rulesWith for a Bot API at api.
func rulesAt(api, action string) string {
	return `destinations:
  bot: {kind: telegram, token: "${TG_TOKEN}", chat_id: "42", api_url: "` + api + `"}
rules:
  - name: r
    when: "true"
    actions:
      - telegram: ` + action + "\n"
}

// setup loads rules for the fake, renders the action for a message of
// text and builds the sender.
func setup(t *testing.T, f *fakeBot, action, text string, o actions.SenderOptions) (*engine.RuleSet, actions.Request, actions.Sender) {
	t.Helper()
	rs := actionstest.Load(t, rulesAt(f.srv.URL, action), map[string]string{"TG_TOKEN": token})
	r := actionstest.RenderOnly(t, rs, actionstest.WithText(text))
	actionstest.Stored(t, r, token)
	r.Key = "evt-1:r:0"
	return rs, r, actionstest.NewSender(t, telegram.Kind, rs, r, o)
}

func TestLoadErrors(t *testing.T) {
	env := map[string]string{"TG_TOKEN": token}
	tests := []struct{ name, rules, want string }{
		{"unknown field", rulesWith(`{destination: bot, txt: hi}`), `rules.yaml:7:38: unknown field "txt" (did you mean "text"?)`},
		{"no text", rulesWith(`{destination: bot}`), `rules.yaml:7:19: text is required`},
		{"parse mode typo", rulesWith(`{destination: bot, text: hi, parse_mode: HTLM}`), `rules.yaml:7:60: parse_mode: "HTLM" is not one of HTML, MarkdownV2 (did you mean "HTML"?)`},
		{"legacy markdown", rulesWith(`{destination: bot, text: hi, parse_mode: Markdown}`), `rules.yaml:7:60: parse_mode: Markdown (the legacy mode) cannot escape payload text; use MarkdownV2 or HTML`},
		{"bad chat", rulesWith(`{destination: bot, text: hi, chat_id: "chat 1"}`), `rules.yaml:7:57: chat_id: not a chat id`},
		{"no destination", rulesWith(`{text: hi}`), `rules.yaml:7:19: destination is required`},
		{"no token", `destinations:
  bot: {kind: telegram, chat_id: "42"}
rules:
  - {name: r, when: "true", actions: [telegram: {destination: bot, text: hi}]}
`, `rules.yaml:2:8: token is required`},
		{"token with a space", `destinations:
  bot: {kind: telegram, token: "12 34"}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:32: token contains a space or control character`},
		{"plain http api", `destinations:
  bot: {kind: telegram, token: "${TG_TOKEN}", api_url: "http://api.example.com"}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:56: api_url must start with https://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, env, tt.want, token)
		})
	}
}

// hostile is payload text that tries every formatting trick of both
// parse modes.
const hostile = `<b>x</b> <a href="https://evil.example">click</a> &amp; *bold* _it_ [link](https://evil.example) \*esc\* ` + "`code`" + ` ||spoiler|| 1.5! #tag -x +y (a) {b} =c >q ~s~ "quoted"`

// TestNoInjection: whatever the payload text, Telegram shows it as typed
// and the only formatting is the author's, in every parse mode.
func TestNoInjection(t *testing.T) {
	tests := []struct {
		mode, template string
		entities       []string
	}{
		{"", `"From {{ sender.wa_name }}: {{ text }}"`, nil},
		{"HTML", `"<b>From</b> {{ sender.wa_name }}: {{ text }}"`, []string{"b"}},
		{"MarkdownV2", `"*From* {{ sender.wa_name }}: {{ text }}"`, []string{"bold"}},
	}
	for _, tt := range tests {
		t.Run("mode "+tt.mode, func(t *testing.T) {
			f := newFakeBot(t, token)
			action := `{destination: bot, text: ` + tt.template
			if tt.mode != "" {
				action += `, parse_mode: ` + tt.mode
			}
			rs, r, s := setup(t, f, action+`}`, hostile, actions.SenderOptions{})
			require.NoError(t, s.Send(context.Background(), r))
			require.Len(t, f.got, 1)
			require.Equal(t, "From Sarah Brown: "+hostile, f.got[0].Text)
			require.Equal(t, tt.entities, f.got[0].Entities)
			require.False(t, f.got[0].Preview, "link previews are off")
			// Live output equals dry-run output.
			w := actionstest.WireAs[*actions.HTTPRequest](t, rs, r)
			actionstest.RequireSentAsWired(t, w, f.received[0])
		})
	}
}

func TestDryRunMasksTheToken(t *testing.T) {
	f := newFakeBot(t, token)
	rs, r, _ := setup(t, f, `{destination: bot, text: "hi {{ text }}"}`, "there", actions.SenderOptions{})
	wire, exact, err := rs.WireMasked(r)
	require.NoError(t, err)
	require.True(t, exact)
	out, err := telegram.Kind.Format(wire)
	require.NoError(t, err)
	require.Equal(t, `POST `+f.srv.URL+`/bot***/sendMessage
Content-Type: application/json
Idempotency-Key: evt-1:r:0

{
  "chat_id": "42",
  "text": "hi there",
  "link_preview_options": {
    "is_disabled": true
  }
}
`, out)
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		chat       string
		tokenUsed  string
		busy       int
		ok         bool
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{name: "ok", chat: "42", ok: true},
		{name: "channel username", chat: "@salesteam", ok: true},
		{name: "chat not found", chat: "-100999", permanent: true, want: `telegram: sendMessage to destination "bot": HTTP 400: Bad Request: chat not found`},
		{name: "bad token", chat: "42", tokenUsed: "7012345678:AAF-other-token-0000000000000", permanent: true, want: "HTTP 401: Unauthorized"},
		{name: "too many requests", chat: "42", busy: 1, retryAfter: 3 * time.Second, want: "Too Many Requests: retry after 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBot(t, token)
			f.busy = tt.busy
			tok := token
			if tt.tokenUsed != "" {
				tok = tt.tokenUsed
			}
			rs := actionstest.Load(t, rulesAt(f.srv.URL, `{destination: bot, text: hi, chat_id: "`+tt.chat+`"}`), map[string]string{"TG_TOKEN": tok})
			r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
			var logs bytes.Buffer
			s := actionstest.NewSender(t, telegram.Kind, rs, r, actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)})
			err := s.Send(context.Background(), r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			actionstest.RequireFailure(t, err, tt.permanent, tt.retryAfter)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), tok)
			require.NotContains(t, logs.String(), tok)
		})
	}
}

func TestServerErrorIsRetried(t *testing.T) {
	srv, _ := actionstest.NewSink(t, actionstest.Reply(502, nil, `<html>Bad Gateway `+token+`</html>`))
	rs := actionstest.Load(t, rulesAt(srv.URL, `{destination: bot, text: hi}`), map[string]string{"TG_TOKEN": token})
	r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
	s := actionstest.NewSender(t, telegram.Kind, rs, r, actions.SenderOptions{})
	err := s.Send(context.Background(), r)
	actionstest.RequireFailure(t, err, false, 0)
	require.NotContains(t, err.Error(), token)
	require.Contains(t, err.Error(), "HTTP 502")
}

func TestNotifyTest(t *testing.T) {
	f := newFakeBot(t, token)
	rs := actionstest.Load(t, rulesAt(f.srv.URL, `{destination: bot, text: hi}`), map[string]string{"TG_TOKEN": token})
	dest := rs.Destinations["bot"]
	for _, to := range []string{"", "@salesteam"} {
		req, err := telegram.Kind.TestRequest(dest.Config, actions.TestOptions{Text: "Switchboard test <b>", To: to})
		require.NoError(t, err)
		req.Destination = "bot"
		s, err := telegram.Kind.NewSender(dest.Config, actions.SenderOptions{})
		require.NoError(t, err)
		require.NoError(t, s.Send(context.Background(), req))
	}
	require.Equal(t, "42", f.got[0].ChatID)
	require.Equal(t, "@salesteam", f.got[1].ChatID)
	require.Equal(t, "Switchboard test <b>", f.got[1].Text)
}

func TestLongPlainTextIsCut(t *testing.T) {
	f := newFakeBot(t, token)
	long := string(bytes.Repeat([]byte("é"), 5000))
	_, r, s := setup(t, f, `{destination: bot, text: "{{ text }}"}`, long, actions.SenderOptions{})
	require.NoError(t, s.Send(context.Background(), r))
	require.Equal(t, telegram.MaxText, len([]rune(f.got[0].Text)))

	rs := actionstest.Load(t, rulesAt(f.srv.URL, `{destination: bot, text: "{{ text }}", parse_mode: HTML}`), map[string]string{"TG_TOKEN": token})
	out := actionstest.Render(t, rs, actionstest.WithText(long))
	require.ErrorContains(t, out[0].Err, "Telegram takes at most 4096")
}

func TestDefaultRate(t *testing.T) {
	rs := actionstest.Load(t, rulesWith(`{destination: bot, text: hi}`), map[string]string{"TG_TOKEN": token})
	require.Equal(t, actions.Rate{PerSecond: 30, Burst: 30}, rs.Destinations["bot"].Rate)
}
