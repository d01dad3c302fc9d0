package webhook_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// TestStoredRequest: the stored request is the action's part only; Wire
// adds the destination's URL, headers and timeout.
func TestStoredRequest(t *testing.T) {
	rs := render(t, rulesWith(`{destination: crm, url: "/contacts/{{ sender.phone }}", query: {v: "1"}, headers: {X-Chat: "{{ chat_title }}"}, body: {a: 1}}`), actionstest.BasePayload())
	require.Len(t, rs, 1)
	require.NoError(t, rs[0].Err)
	var m webhook.Message
	require.NoError(t, json.Unmarshal(rs[0].Request.Body, &m))
	require.Equal(t, webhook.Message{
		Method: "POST",
		Path:   "/contacts/447441369136?v=1",
		Header: map[string]string{"Content-Type": "application/json", "X-Chat": "Sarah Brown"},
		Body:   `{"a":1}`,
	}, m)

	r := rs[0].Request
	r.Key = "evt-1:r:0"
	w, err := webhook.Wire(mustDest(t, `https://crm.example.com/api/`, map[string]string{"Authorization": "Bearer t0ken"}, 5*time.Second), r)
	require.NoError(t, err)
	require.Equal(t, &actions.HTTPRequest{
		Method: "POST",
		URL:    "https://crm.example.com/api/contacts/447441369136?v=1",
		Header: map[string]string{
			"Authorization":   "Bearer t0ken",
			"Content-Type":    "application/json",
			"X-Chat":          "Sarah Brown",
			"Idempotency-Key": "evt-1:r:0",
		},
		Body:      `{"a":1}`,
		TimeoutMS: 5000,
	}, w)
}

// TestDestinationContentType: a destination's Content-Type header picks
// the escaping of raw_body, and is added by Wire, not stored.
func TestDestinationContentType(t *testing.T) {
	rules := `destinations:
  api: {kind: http, url: "https://api.example.com/", headers: {Content-Type: "application/vnd.api+json"}}
rules:
  - {name: r, when: "true", actions: [http: {destination: api, raw_body: '{"t": "{{ text }}"}'}]}
`
	req := renderOne(t, rules, actionstest.WithText(`a"b`))
	require.Equal(t, "application/vnd.api+json", req.Header["Content-Type"])
	require.JSONEq(t, `{"t": "a\"b"}`, req.Body)

	rs := render(t, rules, actionstest.WithText("x"))
	require.NotContains(t, string(rs[0].Request.Body), "vnd.api")
}

func TestWireErrors(t *testing.T) {
	dest := mustDest(t, "https://crm.example.com/api", nil, 0)
	full := actions.Request{Kind: "http", Body: json.RawMessage(`{"method":"POST","url":"https://x.example/"}`)}
	path := actions.Request{Kind: "http", Destination: "crm", Body: json.RawMessage(`{"method":"POST","path":"/a"}`)}
	tests := []struct {
		name string
		dest any
		r    actions.Request
		want string
	}{
		{"destination missing", nil, path, `http: destination "crm" is not configured`},
		{"path without destination", nil, actions.Request{Body: json.RawMessage(`{"method":"POST","path":"/a"}`)}, "no full http(s) URL"},
		{"full url with a destination", dest, full, "is not a path to append"},
		{"absolute path", dest, actions.Request{Body: json.RawMessage(`{"method":"POST","path":"https://evil.example/"}`)}, "is not a path to append"},
		{"dot segment", dest, actions.Request{Body: json.RawMessage(`{"method":"POST","path":"/a/../b"}`)}, `".." segment`},
		{"bad method", nil, actions.Request{Body: json.RawMessage(`{"method":"TRACE","url":"https://x.example/"}`)}, `method "TRACE"`},
		{"not JSON", nil, actions.Request{Body: json.RawMessage(`x`)}, "decoding request"},
		{"wrong destination type", "slack", path, "not of kind http"},
		{"key with a line break", nil, actions.Request{Body: full.Body, Key: "k\r\nX-Evil: 1"}, "line break"},
		{"header with a line break", nil, actions.Request{Body: json.RawMessage(`{"method":"POST","url":"https://x.example/","header":{"X-A":"1\r\nX-Evil: 1"}}`)}, `header "X-A"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.Wire(tt.dest, tt.r)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "X-Evil")
		})
	}
}

func TestTimeoutBounds(t *testing.T) {
	for _, tt := range []struct{ action, want string }{
		{`{destination: crm, timeout: 10m}`, "timeout: 10m0s is not between 1ms and 5m0s"},
		{`{destination: crm, timeout: -1s}`, `got "-1s"`},
		{`{destination: crm, timeout: 1us}`, "timeout: 1µs is not between"},
	} {
		_, err := actionstest.TryLoad(rulesWith(tt.action), testEnv)
		require.ErrorContains(t, err, tt.want)
	}
	req := renderOne(t, rulesWith(`{destination: crm, timeout: 5m}`), actionstest.BasePayload())
	require.EqualValues(t, 300000, req.TimeoutMS)
}

// mustDest builds a destination as ParseDestination would.
func mustDest(t *testing.T, raw string, header map[string]string, timeout time.Duration) *webhook.Destination {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	if header == nil {
		header = map[string]string{}
	}
	return &webhook.Destination{URL: u, Header: header, Timeout: timeout}
}
