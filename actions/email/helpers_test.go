package email_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/email"
	"github.com/switchboard-dev/switchboard/engine"
)

var testEnv = map[string]string{
	"SMTP_PASSWORD": "smtp-secret-password",
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

// renderOne renders the only action of rules and returns its wire form,
// what is sent, and the stored request, which must hold nothing of the
// destination.
func renderOne(t *testing.T, rules string, payload map[string]any) (email.Message, actions.Request) {
	t.Helper()
	rs, err := load(rules)
	require.NoError(t, err)
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	out := renderJSON(t, rs, data)
	require.Len(t, out, 1)
	require.NoError(t, out[0].Err)
	r := out[0].Request
	require.True(t, json.Valid(r.Body), "request is not JSON: %s", r.Body)
	for _, s := range []string{"smtp-secret-password", "smtp.example.com", "127.0.0.1:25", "password", "username"} {
		require.NotContains(t, string(r.Body), s, "the destination is stored")
	}
	wire, err := rs.Wire(r)
	require.NoError(t, err)
	m, ok := wire.(*email.Message)
	require.True(t, ok, "wire form is a %T", wire)
	return *m, r
}

// fmtAll prints v with every verb that could show a secret.
func fmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}
