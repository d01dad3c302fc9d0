package teams_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/teams"
	"github.com/switchboard-dev/switchboard/engine"
)

// sig is the webhook URL's signature: it must never show.
const sig = "canarySig-4f3e2d1c0b9a8f7e6d5c4b3a"

// rulesWith has the destination `channel` and one teams action on line 7
// after "      - teams: " (its mapping starts at column 16).
func rulesWith(action string) string {
	return `destinations:
  channel: {kind: teams, webhook_url: "${TEAMS_URL}"}
rules:
  - name: r
    when: "true"
    actions:
      - teams: ` + action + "\n"
}

func setup(t *testing.T, f *fakeWorkflow, action, text string, o actions.SenderOptions) (*engine.RuleSet, actions.Request, actions.Sender) {
	t.Helper()
	rs := actionstest.Load(t, rulesWith(action), map[string]string{"TEAMS_URL": f.URL()})
	r := actionstest.RenderOnly(t, rs, actionstest.WithText(text))
	actionstest.Stored(t, r, sig, f.srv.URL)
	r.Key = "evt-1:r:0"
	return rs, r, actionstest.NewSender(t, teams.Kind, rs, r, o)
}

func TestLoadErrors(t *testing.T) {
	env := map[string]string{"TEAMS_URL": "https://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=" + sig}
	tests := []struct{ name, rules, want string }{
		{"unknown field", rulesWith(`{destination: channel, titel: hi}`), `rules.yaml:7:39: unknown field "titel" (did you mean "title"?)`},
		{"empty card", rulesWith(`{destination: channel}`), `rules.yaml:7:16: title, text or facts is required`},
		{"fact without value", rulesWith(`{destination: channel, facts: [{title: Phone}]}`), `rules.yaml:7:47: facts: each fact has a title and a value`},
		{"no url", `destinations:
  channel: {kind: teams}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:12: webhook_url is required`},
		{"http url", `destinations:
  channel: {kind: teams, webhook_url: "http://prod-01.logic.azure.com/x?sig=` + sig + `"}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:39: webhook_url must start with https://`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, env, tt.want, sig)
		})
	}
}

const hostile = "**bold** _it_ [click](https://evil.example) `code` ~~s~~ \\*esc\\*\n- item\n1. first\n# head <at>Everyone</at>"

// TestNoInjection: payload text shows as typed in the title, the text and
// the facts; the only formatting is the author's.
func TestNoInjection(t *testing.T) {
	f := newFakeWorkflow(t, sig)
	rs, r, s := setup(t, f, `{destination: channel, title: "**New message** from {{ sender.wa_name }}", text: "{{ text }}", facts: [{title: "Text", value: "{{ text }}"}]}`, hostile, actions.SenderOptions{})
	require.NoError(t, s.Send(context.Background(), r))
	require.Len(t, f.shown, 1)
	require.Equal(t, []string{"New message from Sarah Brown", hostile, "Text: " + hostile}, f.shown[0].Texts)
	require.Equal(t, []string{"bold", "bold"}, f.shown[0].Entities, "only the author's **...**")
	actionstest.RequireSentAsWired(t, actionstest.WireAs[*actions.HTTPRequest](t, rs, r), f.received[0])
}

func TestCardShape(t *testing.T) {
	f := newFakeWorkflow(t, sig)
	rs, r, _ := setup(t, f, `{destination: channel, title: "Lead", text: "{{ text }}", facts: [{title: Phone, value: "{{ sender.phone }}"}]}`, "Hi", actions.SenderOptions{})
	// The URL is a secret whole: it is printed redacted, as dry-run does.
	wire, exact, err := rs.WireMasked(r)
	require.NoError(t, err)
	require.False(t, exact)
	out, err := teams.Kind.Format(wire)
	require.NoError(t, err)
	require.Equal(t, `POST ***
Content-Type: application/json
Idempotency-Key: evt-1:r:0

{
  "type": "message",
  "attachments": [
    {
      "contentType": "application/vnd.microsoft.card.adaptive",
      "contentUrl": null,
      "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
          {
            "type": "TextBlock",
            "text": "Lead",
            "weight": "Bolder",
            "size": "Medium",
            "wrap": true
          },
          {
            "type": "TextBlock",
            "text": "Hi",
            "wrap": true
          },
          {
            "type": "FactSet",
            "facts": [
              {
                "title": "Phone",
                "value": "447441369136"
              }
            ]
          }
        ],
        "msteams": {
          "width": "Full"
        }
      }
    }
  ]
}
`, rs.Redact(out))
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		sigUsed    string
		busy       int
		ok         bool
		permanent  bool
		retryAfter time.Duration
		want       string
	}{
		{name: "accepted", ok: true},
		{name: "wrong signature", sigUsed: "otherSig-000000000000000000", permanent: true, want: "HTTP 401 Unauthorized"},
		{name: "throttled", busy: 1, retryAfter: 9 * time.Second, want: "WorkflowRequestsThrottled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeWorkflow(t, sig)
			f.busy = tt.busy
			u := f.URL()
			if tt.sigUsed != "" {
				u = f.srv.URL + path + "?api-version=2016-06-01&sv=1.0&sig=" + tt.sigUsed
			}
			rs := actionstest.Load(t, rulesWith(`{destination: channel, text: hi}`), map[string]string{"TEAMS_URL": u})
			r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
			var logs bytes.Buffer
			s := actionstest.NewSender(t, teams.Kind, rs, r, actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)})
			err := s.Send(context.Background(), r)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			actionstest.RequireFailure(t, err, tt.permanent, tt.retryAfter)
			require.Contains(t, err.Error(), tt.want)
			for _, secret := range []string{sig, tt.sigUsed, f.srv.URL} {
				if secret != "" {
					require.NotContains(t, err.Error(), secret)
					require.NotContains(t, logs.String(), secret)
				}
			}
		})
	}
}

func TestNotifyTest(t *testing.T) {
	f := newFakeWorkflow(t, sig)
	rs := actionstest.Load(t, rulesWith(`{destination: channel, text: hi}`), map[string]string{"TEAMS_URL": f.URL()})
	dest := rs.Destinations["channel"]
	req, err := teams.Kind.TestRequest(dest.Config, actions.TestOptions{Text: "Switchboard test *1*"})
	require.NoError(t, err)
	req.Destination = "channel"
	s, err := teams.Kind.NewSender(dest.Config, actions.SenderOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), req))
	require.Equal(t, []string{"Switchboard test", "Switchboard test *1*"}, f.shown[0].Texts)
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, 3.5%":  "plain text, 3.5%",
		"- a\n  + b\n12. c": "\\- a\n  \\+ b\n12\\. c",
		"a-b 1. c":          "a-b 1. c",
		"[x](y) **z**":      "\\[x\\]\\(y\\) \\*\\*z\\*\\*",
	} {
		require.Equal(t, want, teams.Escape(in), in)
	}
}
