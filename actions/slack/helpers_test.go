package slack_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/engine"
)

var testEnv = map[string]string{
	"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/slack-secret",
	"SLACK_TOKEN":       "xoxb-slack-secret-token",
}

// notStored is what a stored request must never hold: the destination's
// secrets, and the webhook URL's secret path.
var notStored = append(slices.Collect(maps.Values(testEnv)), "B000")

// render loads rules (which must load) and renders every action for the
// payload.
func render(t *testing.T, rules string, payload map[string]any) []engine.Rendered {
	t.Helper()
	return actionstest.Render(t, actionstest.Load(t, rules, testEnv), payload)
}

// renderOne renders the only action of rules and returns its wire form,
// what is posted. The stored request must hold no destination secret.
func renderOne(t *testing.T, rules string, payload map[string]any) actions.HTTPRequest {
	t.Helper()
	w, _ := actionstest.RenderOne[*actions.HTTPRequest](t, actionstest.Load(t, rules, testEnv), payload, notStored...)
	return *w
}
