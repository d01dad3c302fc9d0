package email_test

import (
	"testing"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/email"
	"github.com/switchboard-dev/switchboard/engine"
)

var testEnv = map[string]string{
	"SMTP_PASSWORD": "smtp-secret-password",
}

// render loads rules (which must load) and renders every action for the
// payload.
func render(t *testing.T, rules string, payload map[string]any) []engine.Rendered {
	t.Helper()
	return actionstest.Render(t, actionstest.Load(t, rules, testEnv), payload)
}

// renderOne renders the only action of rules and returns its wire form,
// what is sent, and the stored request, which must hold nothing of the
// destination.
func renderOne(t *testing.T, rules string, payload map[string]any) (email.Message, actions.Request) {
	t.Helper()
	m, r := actionstest.RenderOne[*email.Message](t, actionstest.Load(t, rules, testEnv), payload,
		"smtp-secret-password", "smtp.example.com", "127.0.0.1:25", "password", "username")
	return *m, r
}
