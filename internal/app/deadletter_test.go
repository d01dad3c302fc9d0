package app_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeadLettersAreCounted: a delivery that gives up is logged at ERROR
// and counted by destination and rule, so an alert can fire on it.
func TestDeadLettersAreCounted(t *testing.T) {
	refusing := newSink(t, func(int, *http.Request) int { return http.StatusBadRequest })
	svc := start(t, fmt.Sprintf(`destinations:
  crm: {kind: http, url: %q}
rules:
  - name: to-crm
    when: "true"
    actions: [{http: {destination: crm, url: "/in", body: {id: "{{ message.id }}"}}}]
`, refusing.URL), nil)
	status, _ := svc.post(t, readPayload(t, "received-chat.json"))
	require.Equal(t, http.StatusAccepted, status)
	waitFor(t, func() bool {
		return svc.metric(t, `switchboard_dead_letters_total{destination="crm",rule="to-crm"}`) == 1
	})
	require.Contains(t, svc.logs.String(), "level=ERROR msg=\"delivery: gave up; the job is a dead letter\"")
}
