package app_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestRenderFailureIsADeadLetter: an action whose template cannot render
// for a payload (a URL path that renders a ".." segment) is a delivery that failed:
// a dead letter with the reason, counted, listed; replayed after the rules
// are fixed, it is rendered again with the running rules and delivered.
func TestRenderFailureIsADeadLetter(t *testing.T) {
	crm := newSink(t, nil)
	rules := func(path string) string {
		return fmt.Sprintf(`destinations:
  crm: {kind: http, url: %q}
rules:
  - name: note
    when: "true"
    actions: [{http: {destination: crm, url: %q, body: {id: "{{ message.id }}"}}}]
`, crm.URL, path)
	}
	svc := start(t, rules("/in/{{ text }}"), nil)
	status, _ := svc.post(t, []byte(`{"chat_id":"1@c.us","direction":"received","message":{"id":"M1","type":"chat","text":".."}}`))
	require.Equal(t, http.StatusAccepted, status)
	var ds []app.DeliveryView
	waitFor(t, func() bool {
		ds = nil
		svc.api(t, http.MethodGet, "/api/deliveries?state=dead", &ds)
		return len(ds) == 1
	})
	require.Contains(t, ds[0].LastError, "the action could not be rendered")
	// The counter moves once the batch holding the dead delivery is
	// committed, so a reader of the API can see the row a moment before.
	waitFor(t, func() bool {
		return svc.metric(t, `switchboard_dead_letters_total{destination="crm",rule="note"}`) == 1
	})
	require.Empty(t, crm.requests())

	// Fixed rules, then the replay renders the action again.
	require.NoError(t, os.WriteFile(svc.rules, []byte(rules("/in/{{ len(text) }}-characters")), 0o644))
	var st app.ReloadStatus
	require.Equal(t, http.StatusOK, svc.api(t, http.MethodPost, "/-/reload", &st))
	require.Equal(t, http.StatusOK, svc.api(t, http.MethodPost, fmt.Sprintf("/api/deliveries/%d/replay", ds[0].ID), nil))
	waitFor(t, func() bool { return len(crm.requests()) == 1 })
	require.Equal(t, "/in/2-characters", crm.requests()[0].Path)
	require.JSONEq(t, `{"id":"M1"}`, crm.requests()[0].Body)
}
