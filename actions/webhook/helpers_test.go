package webhook_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
)

var testEnv = map[string]string{
	"CRM_TOKEN":    "crm-secret-token",
	"WITH_NEWLINE": "abc\r\nX-Evil: 1",
}

func load(rules string) (*engine.RuleSet, error) {
	return engine.Load(engine.Options{
		Kinds:     builtin.Kinds(),
		LookupEnv: func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok },
	}, engine.Source{Name: "rules.yaml", Data: []byte(rules)})
}

// basePayload is a received chat message; tests change fields of a copy.
func basePayload() map[string]any {
	return map[string]any{
		"chat_id":    "447441369136@c.us",
		"chat_type":  "individual",
		"chat_title": "Sarah Brown",
		"user_phone": "447441368384",
		"user_email": "agent@example.com",
		"direction":  "received",
		"message": map[string]any{
			"id":   "3EB0A1B2C3D4E5F60718",
			"type": "chat",
			"text": "Hello, do you ship to Manchester?",
		},
		"timestamp": "1700000000",
		"sender":    map[string]any{"phone": "447441369136", "wa_name": "Sarah Brown"},
	}
}

// withText returns the base payload with message.text set to text.
func withText(text string) map[string]any {
	p := basePayload()
	p["message"].(map[string]any)["text"] = text
	return p
}

// render loads rules (which must load) and renders every action for the
// payload.
func render(t *testing.T, rules string, payload map[string]any) []engine.Rendered {
	t.Helper()
	rs, err := load(rules)
	require.NoError(t, err)
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	return renderJSON(t, rs, data)
}

func renderJSON(t *testing.T, rs *engine.RuleSet, data []byte) []engine.Rendered {
	t.Helper()
	ev, err := engine.Decode(data)
	require.NoError(t, err)
	p, err := rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1700000000, 0).UTC()})
	require.NoError(t, err)
	var out []engine.Rendered
	for _, m := range p.Matches {
		out = append(out, m.Actions...)
	}
	return out
}

// renderOne renders the only action of rules and decodes its HTTPRequest.
func renderOne(t *testing.T, rules string, payload map[string]any) actions.HTTPRequest {
	t.Helper()
	rs := render(t, rules, payload)
	require.Len(t, rs, 1)
	require.NoError(t, rs[0].Err)
	require.True(t, json.Valid(rs[0].Request.Body), "request is not JSON: %s", rs[0].Request.Body)
	var req actions.HTTPRequest
	require.NoError(t, json.Unmarshal(rs[0].Request.Body, &req))
	return req
}

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }
