package app_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestEgressGuard: by default the service does not connect to local or
// private addresses (a rule's destination at 127.0.0.1 becomes a dead
// letter saying why, without a byte sent); allow_private: true on a
// destination lets it through.
func TestEgressGuard(t *testing.T) {
	internal := newSink(t, nil)
	allowed := newSink(t, nil)
	svc := start(t, fmt.Sprintf(`destinations:
  internal: {kind: http, url: %q}
  allowed: {kind: http, url: %q, allow_private: true}
rules:
  - name: both
    when: "true"
    actions:
      - http: {destination: internal, url: "/in", body: {id: "{{ message.id }}"}}
      - http: {destination: allowed, url: "/in", body: {id: "{{ message.id }}"}}
`, internal.URL, allowed.URL), func(c *app.Config) { c.EgressAllow = nil })
	status, _ := svc.post(t, readPayload(t, "received-chat.json"))
	require.Equal(t, http.StatusAccepted, status)
	var ds []app.DeliveryView
	waitFor(t, func() bool {
		ds = nil
		svc.api(t, http.MethodGet, "/api/deliveries", &ds)
		return len(ds) == 2 && ds[0].State != "pending" && ds[1].State != "pending"
	})
	states := map[string]app.DeliveryView{}
	for _, d := range ds {
		states[d.Destination] = d
	}
	require.Equal(t, "dead", states["internal"].State)
	require.Contains(t, states["internal"].LastError, "refused to connect to 127.0.0.1, a loopback address")
	require.Empty(t, internal.requests(), "nothing was sent to the internal address")
	require.Equal(t, "done", states["allowed"].State)
	require.Len(t, allowed.requests(), 1)
}
