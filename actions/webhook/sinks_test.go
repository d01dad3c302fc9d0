package webhook_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/webhook"
	"github.com/switchboard-dev/switchboard/engine"
)

// renderRequest renders the only action of rs for payload, with an
// idempotency key as the delivery queue sets it.
func renderRequest(t *testing.T, rs *engine.RuleSet, payload map[string]any) actions.Request {
	t.Helper()
	r := actionstest.RenderOnly(t, rs, payload)
	r.Key = "evt-3EB0A1B2:r:0"
	return r
}

// newSender builds the sender of r's destination.
func newSender(t *testing.T, rs *engine.RuleSet, r actions.Request, o actions.SenderOptions) actions.Sender {
	t.Helper()
	return actionstest.NewSender(t, webhook.Kind, rs, r, o)
}

// crmRules is a rules file with one http destination at base (a URL and
// headers from the environment) and one action.
func crmRules(action string) string {
	return `destinations:
  crm: {kind: http, url: "${CRM_URL}", headers: {Authorization: "Bearer ${CRM_TOKEN}", X-Api-Key: "${CRM_KEY}"}}
rules:
  - name: r
    when: "true"
    actions:
      - http: ` + action + "\n"
}

// crmEnv is the environment of crmRules for a destination at base.
func crmEnv(base string) map[string]string {
	return map[string]string{"CRM_URL": base, "CRM_TOKEN": canary, "CRM_KEY": "key-" + canary}
}

// canary is a secret that must never show in an error or a log line.
const canary = "canary-7f3a9c1e5b2d4068"

// waitOrDone blocks until the client goes away, or d passes; it reports
// whether the client went away.
func waitOrDone(r *http.Request, d time.Duration) bool {
	select {
	case <-r.Context().Done():
		return true
	case <-time.After(d):
		return false
	}
}
