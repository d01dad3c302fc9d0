package slack_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/slack"
)

// rulesWith is a rules file whose only action, on line 8, is the slack
// action written in flow style after "      - slack: " (its mapping starts
// at column 16).
func rulesWith(action string) string {
	return `destinations:
  team: {kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
  bot: {kind: slack, token: "${SLACK_TOKEN}", channel: "#support", api_url: "http://127.0.0.1:9/api/"}
rules:
  - name: r
    when: "true"
    actions:
      - slack: ` + action + "\n"
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, rules, want string
	}{
		{"unknown field", rulesWith(`{destination: team, txt: hi}`),
			`rules.yaml:8:36: unknown field "txt" (did you mean "text"?)`},
		{"no destination", rulesWith(`{text: hi}`),
			`rules.yaml:8:16: destination is required (or an inline webhook_url)`},
		{"destination and webhook_url", rulesWith(`{destination: team, webhook_url: "https://hooks.slack.com/x", text: hi}`),
			`rules.yaml:8:49: set destination or webhook_url, not both`},
		{"no text", rulesWith(`{destination: team}`),
			`rules.yaml:8:16: text is required (or blocks)`},
		{"empty text", rulesWith(`{destination: team, text: ""}`),
			`rules.yaml:8:16: text is required (or blocks)`},
		{"blocks not a list", rulesWith(`{destination: team, blocks: {type: section}}`),
			`rules.yaml:8:44: blocks: expected a list of Block Kit blocks`},
		{"channel with a webhook", rulesWith(`{destination: team, text: hi, channel: "#x"}`),
			`rules.yaml:8:55: channel needs a destination with a token`},
		{"bad static channel", rulesWith(`{destination: bot, text: hi, channel: "#two words"}`),
			`rules.yaml:8:54: channel: not a channel name or ID`},
		{"inline webhook over http", rulesWith(`{webhook_url: "http://hooks.example.com/x", text: hi}`),
			`rules.yaml:8:30: webhook_url must start with https:// (http:// is allowed only for localhost)`},
		{"inline webhook templated", rulesWith(`{webhook_url: "https://hooks.slack.com/{{ text }}", text: hi}`),
			`rules.yaml:8:30: webhook_url cannot be a template`},
		{"template error", rulesWith(`{destination: team, text: "{{ sender.nmae }}"}`),
			`rules.yaml:8:53: `},
		{"destination without webhook or token", actionstest.RulesWithDest(`{kind: slack, channel: "#x"}`),
			`rules.yaml:2:6: webhook_url or token is required`},
		{"destination with both", actionstest.RulesWithDest(`{kind: slack, webhook_url: "https://hooks.slack.com/x", token: abc}`),
			`rules.yaml:2:69: set webhook_url or token, not both`},
		{"destination webhook not a URL", actionstest.RulesWithDest(`{kind: slack, webhook_url: "hooks.slack.com/x"}`),
			`rules.yaml:2:33: webhook_url must be an absolute https:// URL`},
		{"destination webhook with channel", actionstest.RulesWithDest(`{kind: slack, webhook_url: "https://hooks.slack.com/x", channel: "#x"}`),
			`rules.yaml:2:71: channel needs a token`},
		{"token with a space", actionstest.RulesWithDest(`{kind: slack, token: "xoxb secret"}`),
			`rules.yaml:2:27: token contains a space or control character`},
		{"api_url over http", actionstest.RulesWithDest(`{kind: slack, token: abc, api_url: "http://slack.example.com/api"}`),
			`rules.yaml:2:41: api_url must start with https://`},
		{"token without any channel", `destinations:
  bot: {kind: slack, token: abc}
rules:
  - name: r
    when: "true"
    actions:
      - slack: {destination: bot, text: hi}
`, `rules.yaml:7:16: channel is required: set it on the action or on the destination`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, testEnv, tt.want, "secret")
		})
	}
}

// TestEscaping checks that payload text can neither mention nor hide a
// link, while the author's own text is sent as written.
func TestEscaping(t *testing.T) {
	tests := []struct{ text, want string }{
		{"<!channel> hi", "&lt;!channel&gt; hi"},
		{"<!here>", "&lt;!here&gt;"},
		{"<!everyone>", "&lt;!everyone&gt;"},
		{"<@U024BE7LH> look", "&lt;@U024BE7LH&gt; look"},
		{"<!subteam^S1>", "&lt;!subteam^S1&gt;"},
		{"<https://evil.example|Verify your account>", "&lt;https://evil.example|Verify your account&gt;"},
		{"&amp;", "&amp;amp;"},
		{"a & b < c > d", "a &amp; b &lt; c &gt; d"},
		{"@channel #general", "@channel #general"},
		{"{{ 7*7 }}", "{{ 7*7 }}"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			req := renderOne(t, rulesWith(`{destination: team, text: "<!here> New from {{ sender.wa_name }}: {{ text }}"}`), actionstest.WithText(tt.text))
			require.Equal(t, "POST", req.Method)
			require.Equal(t, "https://hooks.slack.com/services/T000/B000/slack-secret", req.URL)
			require.Equal(t, map[string]string{"Content-Type": "application/json; charset=utf-8"}, req.Header)
			want, err := json.Marshal(map[string]any{
				"text":         "<!here> New from Sarah Brown: " + tt.want,
				"unfurl_links": false,
				"unfurl_media": false,
			})
			require.NoError(t, err)
			require.JSONEq(t, string(want), req.Body)
			require.NotContains(t, req.Body, "link_names")
			require.NotContains(t, req.Body, "parse")
		})
	}
}

func TestBlocksAreEscaped(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: team, text: "fallback {{ text }}", blocks: [
        {type: section, text: {type: mrkdwn, text: "*From* <!here> {{ sender.wa_name }}: {{ text }}"}},
        {type: context, elements: [{type: plain_text, text: "{{ text }}"}]}]}`), actionstest.WithText("<!channel> & <@U1>"))
	var body struct {
		Text   string
		Blocks []struct {
			Text     struct{ Text string }
			Elements []struct{ Text string }
		}
		UnfurlLinks *bool `json:"unfurl_links"`
	}
	require.NoError(t, json.Unmarshal([]byte(req.Body), &body))
	const esc = "&lt;!channel&gt; &amp; &lt;@U1&gt;"
	require.Equal(t, "fallback "+esc, body.Text)
	require.Equal(t, "*From* <!here> Sarah Brown: "+esc, body.Blocks[0].Text.Text)
	require.Equal(t, esc, body.Blocks[1].Elements[0].Text)
	require.NotNil(t, body.UnfurlLinks)
	require.False(t, *body.UnfurlLinks)
}

func TestUnfurl(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: team, text: "{{ text }}"}`), actionstest.WithText("https://evil.example/pixel.png"))
	require.JSONEq(t, `{"text":"https://evil.example/pixel.png","unfurl_links":false,"unfurl_media":false}`, req.Body)

	req = renderOne(t, rulesWith(`{destination: team, text: "{{ text }}", unfurl: true}`), actionstest.WithText("https://example.com"))
	require.JSONEq(t, `{"text":"https://example.com","unfurl_links":true,"unfurl_media":true}`, req.Body)
}

func TestToken(t *testing.T) {
	t.Run("default channel", func(t *testing.T) {
		req := renderOne(t, rulesWith(`{destination: bot, text: hi}`), actionstest.BasePayload())
		require.Equal(t, "http://127.0.0.1:9/api/chat.postMessage", req.URL)
		require.Equal(t, map[string]string{
			"Authorization": "Bearer xoxb-slack-secret-token",
			"Content-Type":  "application/json; charset=utf-8",
		}, req.Header)
		require.JSONEq(t, `{"text":"hi","channel":"#support","unfurl_links":false,"unfurl_media":false}`, req.Body)
	})
	t.Run("channel from the event", func(t *testing.T) {
		req := renderOne(t, rulesWith(`{destination: bot, text: hi, channel: "{{ lower(type) == 'chat' ? 'C0CHAT' : 'C0FILES' }}"}`), actionstest.BasePayload())
		require.JSONEq(t, `{"text":"hi","channel":"C0CHAT","unfurl_links":false,"unfurl_media":false}`, req.Body)
	})
	t.Run("bad channel from the event", func(t *testing.T) {
		out := render(t, rulesWith(`{destination: bot, text: hi, channel: "{{ text }}"}`), actionstest.WithText("<!channel> x"))
		require.Len(t, out, 1)
		require.ErrorContains(t, out[0].Err, "slack: channel: not a channel name or ID")
	})
	t.Run("default API URL", func(t *testing.T) {
		req := renderOne(t, `destinations:
  bot: {kind: slack, token: "${SLACK_TOKEN}"}
rules:
  - {name: r, when: "true", actions: [slack: {destination: bot, channel: C0123, text: hi}]}
`, actionstest.BasePayload())
		require.Equal(t, "https://slack.com/api/chat.postMessage", req.URL)
	})
}

func TestInlineWebhook(t *testing.T) {
	req := renderOne(t, rulesWith(`{webhook_url: "http://localhost:8080/hook", text: hi}`), actionstest.BasePayload())
	require.Equal(t, "http://localhost:8080/hook", req.URL)
	// An inline URL is stored with the request: it cannot be a secret.
	_, err := actionstest.TryLoad(rulesWith(`{webhook_url: "${SLACK_WEBHOOK_URL}", text: hi}`), testEnv)
	require.ErrorContains(t, err, "${SLACK_WEBHOOK_URL}")
}

func TestEmptyTextIsAnError(t *testing.T) {
	out := render(t, rulesWith(`{destination: team, text: "{{ caption }}"}`), actionstest.BasePayload())
	require.Len(t, out, 1)
	require.ErrorContains(t, out[0].Err, "slack: text is empty once rendered")
}

func TestBodyIsValidJSON(t *testing.T) {
	for _, text := range []string{
		`","channel":"#general","x":"`, `quote " backslash \`, "new\nline\r\ttab", "nul \x00",
		"a\u2028b\u2029", "bad \xff utf-8", "emoji 👍",
	} {
		req := renderOne(t, rulesWith(`{destination: bot, text: "{{ text }}"}`), actionstest.WithText(text))
		require.True(t, json.Valid([]byte(req.Body)), req.Body)
		var m slack.Message
		require.NoError(t, json.Unmarshal([]byte(req.Body), &m))
		require.Equal(t, "#support", m.Channel)
	}
}

func TestFormat(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: bot, text: "{{ text }}"}`), actionstest.WithText("<b>"))
	s, err := slack.Kind.Format(&req)
	require.NoError(t, err)
	require.Equal(t, `POST http://127.0.0.1:9/api/chat.postMessage
Authorization: Bearer xoxb-slack-secret-token
Content-Type: application/json; charset=utf-8

{
  "text": "&lt;b&gt;",
  "channel": "#support",
  "unfurl_links": false,
  "unfurl_media": false
}
`, s)
}

func TestEscape(t *testing.T) {
	require.Equal(t, "&amp;lt; &lt;&gt; &amp;amp;", slack.Escape("&lt; <> &amp;"))
	require.Equal(t, "plain", slack.Escape("plain"))
}

func TestDestinationPrintsNoSecret(t *testing.T) {
	rs := actionstest.Load(t, rulesWith(`{destination: team, text: hi}`), testEnv)
	for _, name := range []string{"team", "bot"} {
		d := rs.Destinations[name].Config
		data, err := json.Marshal(d)
		require.NoError(t, err)
		var js string
		require.NoError(t, json.Unmarshal(data, &js))
		for _, s := range []string{actionstest.FmtAll(d), js} {
			require.NotContains(t, s, "secret-token")
			require.NotContains(t, s, "B000")
			require.Contains(t, s, "<secret>")
		}
	}
}
