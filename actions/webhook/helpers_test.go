package webhook_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/engine"
)

var testEnv = map[string]string{
	"CRM_TOKEN":    "crm-secret-token",
	"WITH_NEWLINE": "abc\r\nX-Evil: 1",
}

// notStored is what a stored request must never hold: the destination's
// secrets and its URL.
var notStored = append(slices.Collect(maps.Values(testEnv)), "crm.example.com")

// render loads rules (which must load) and renders every action for the
// payload.
func render(t *testing.T, rules string, payload map[string]any) []engine.Rendered {
	t.Helper()
	return actionstest.Render(t, actionstest.Load(t, rules, testEnv), payload)
}

// renderOne renders the only action of rules and returns its wire form,
// what is sent. The stored request must hold nothing of the destination.
func renderOne(t *testing.T, rules string, payload map[string]any) actions.HTTPRequest {
	t.Helper()
	w, _ := actionstest.RenderOne[*actions.HTTPRequest](t, actionstest.Load(t, rules, testEnv), payload, notStored...)
	return *w
}
