package webhook_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/webhook"
	"github.com/switchboard-dev/switchboard/engine"
)

// received is one request as a sink saw it.
type received struct {
	Method, URL string
	Header      http.Header
	Body        string
}

// newSink starts a loopback server that records every request, then lets
// respond answer it (nil: 200 with no body).
func newSink(t *testing.T, respond http.HandlerFunc) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)}
		if respond != nil {
			respond(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// transportHeaders are set by the HTTP client, not by Wire.
var transportHeaders = []string{"User-Agent", "Content-Length", "Accept-Encoding"}

// requireSentAsWired checks that a sink received exactly the wire form.
func requireSentAsWired(t *testing.T, w *actions.HTTPRequest, got received) {
	t.Helper()
	require.Equal(t, w.Method, got.Method)
	require.Equal(t, w.URL, got.URL)
	header := map[string]string{}
	for k, v := range got.Header {
		if !slices.Contains(transportHeaders, k) {
			header[k] = strings.Join(v, ", ")
		}
	}
	want := w.Header
	if want == nil {
		want = map[string]string{}
	}
	require.Equal(t, want, header)
	require.Equal(t, w.Body, got.Body)
}

// loadEnv loads rules with env as the environment.
func loadEnv(t *testing.T, env map[string]string, rules string) *engine.RuleSet {
	t.Helper()
	rs, err := engine.Load(engine.Options{
		Kinds:     builtin.Kinds(),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, engine.Source{Name: "rules.yaml", Data: []byte(rules)})
	require.NoError(t, err)
	return rs
}

// renderRequest renders the only action of rs for payload, with an
// idempotency key as the delivery queue sets it.
func renderRequest(t *testing.T, rs *engine.RuleSet, payload map[string]any) actions.Request {
	t.Helper()
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	out := renderJSON(t, rs, data)
	require.Len(t, out, 1)
	require.NoError(t, out[0].Err)
	r := out[0].Request
	r.Key = "evt-3EB0A1B2:r:0"
	return r
}

// newSender builds the sender of r's destination.
func newSender(t *testing.T, rs *engine.RuleSet, r actions.Request, o actions.SenderOptions) actions.Sender {
	t.Helper()
	var dest any
	if r.Destination != "" {
		dest = rs.Destinations[r.Destination].Config
	}
	s, err := webhook.Kind{}.NewSender(dest, o)
	require.NoError(t, err)
	return s
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

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

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
