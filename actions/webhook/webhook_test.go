package webhook_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// rulesWith is a rules file whose only action, on line 7, is the http
// action written in flow style after "      - http: " (its mapping starts
// at column 15).
func rulesWith(action string) string {
	return `destinations:
  crm: {kind: http, url: "https://crm.example.com/api/", headers: {Authorization: "Bearer ${CRM_TOKEN}"}, timeout: 5s}
rules:
  - name: r
    when: "true"
    actions:
      - http: ` + action + "\n"
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, rules, want string
	}{
		{"unknown field", rulesWith(`{destination: crm, bdoy: {a: 1}}`),
			`rules.yaml:7:34: unknown field "bdoy" (did you mean "body"?)`},
		{"no url without destination", rulesWith(`{method: POST}`),
			`rules.yaml:7:15: url is required (a full URL, or a path with a destination)`},
		{"bad method", rulesWith(`{destination: crm, method: TRACE}`),
			`rules.yaml:7:42: method: "TRACE" is not one of GET, POST, PUT, PATCH, DELETE`},
		{"relative url without destination", rulesWith(`{url: "/contacts"}`),
			`rules.yaml:7:21: url: must start with http:// or https://`},
		{"ftp url", rulesWith(`{url: "ftp://files.example.com/x"}`),
			`rules.yaml:7:21: url: must start with http:// or https://`},
		{"host from payload", rulesWith(`{url: "https://{{ chat_title }}/x"}`),
			`rules.yaml:7:21: url: write the scheme and host in full before any {{ }}, ending with a /`},
		{"whole url from payload", rulesWith(`{url: "{{ message.file_url }}"}`),
			`rules.yaml:7:21: url: write the scheme and host in full`},
		{"host suffix from payload", rulesWith(`{url: "https://api.example.com{{ text }}/x"}`),
			`rules.yaml:7:21: url: write the scheme and host in full`},
		{"port from payload", rulesWith(`{url: "https://api.example.com:{{ text }}/x"}`),
			`rules.yaml:7:21: url: write the scheme and host in full`},
		{"query right after host", rulesWith(`{url: "https://api.example.com?q={{ text }}"}`),
			`rules.yaml:7:21: url: write the scheme and host in full`},
		{"absolute url with destination", rulesWith(`{destination: crm, url: "https://evil.example/x"}`),
			`rules.yaml:7:39: url: with a destination, url is a path starting with a single /`},
		{"payload url with destination", rulesWith(`{destination: crm, url: "{{ text }}"}`),
			`rules.yaml:7:39: url: with a destination, url is a path`},
		{"scheme-relative path", rulesWith(`{destination: crm, url: "//evil.example/x"}`),
			`rules.yaml:7:39: url: with a destination, url is a path`},
		{"body and raw_body", rulesWith(`{destination: crm, body: {a: 1}, raw_body: "x"}`),
			`rules.yaml:7:58: body and raw_body cannot both be set`},
		{"GET with body", rulesWith(`{destination: crm, method: GET, body: {a: 1}}`),
			`rules.yaml:7:15: a GET request has no body; use query, or another method`},
		{"bad header name", rulesWith(`{destination: crm, headers: {"X Bad": "1"}}`),
			`rules.yaml:7:44: headers: "X Bad" is not a valid header name`},
		{"Host header", rulesWith(`{destination: crm, headers: {host: "{{ text }}"}}`),
			`rules.yaml:7:44: headers: Host cannot be set: the host comes from the url`},
		{"Content-Type header", rulesWith(`{destination: crm, body: {}, headers: {content-type: text/xml}}`),
			`rules.yaml:7:54: headers: set the body's type with content_type, not a Content-Type header`},
		{"header twice", rulesWith(`{destination: crm, headers: {X-A: "1", x-a: "2"}}`),
			`rules.yaml:7:54: headers: X-A is set twice (header names ignore case)`},
		{"bad content type", rulesWith(`{destination: crm, raw_body: x, content_type: "json"}`),
			`rules.yaml:7:61: content_type: "json" is not a media type such as application/json`},
		{"template error", rulesWith(`{destination: crm, url: "/x/{{ nosuch }}"}`),
			`rules.yaml:7:46: unknown name nosuch`},
		{"wrong type", rulesWith(`{destination: crm, timeout: soon}`),
			`rules.yaml:7:43: expected a duration such as 30s or 5m, got "soon"`},
		{"destination without url", actionstest.RulesWithDest(`{kind: http, headers: {A: b}}`),
			`rules.yaml:2:6: url is required`},
		{"destination url relative", actionstest.RulesWithDest(`{kind: http, url: "/api"}`),
			`rules.yaml:2:24: url: must start with http:// or https://`},
		{"destination url without host", actionstest.RulesWithDest(`{kind: http, url: "https:///api"}`),
			`rules.yaml:2:24: url: has no host`},
		{"destination url templated", actionstest.RulesWithDest(`{kind: http, url: "https://x.example/{{ text }}"}`),
			`rules.yaml:2:24: url: destinations cannot use templates`},
		{"destination header value with a line break", actionstest.RulesWithDest(`{kind: http, url: "https://x.example/", headers: {X-Key: "${WITH_NEWLINE}"}}`),
			`rules.yaml:2:56: headers: the value of X-Key contains a line break or control character`},
		{"destination unknown field", actionstest.RulesWithDest(`{kind: http, url: "https://x.example/", timout: 1s}`),
			`rules.yaml:2:46: unknown field "timout" (did you mean "timeout"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, testEnv, tt.want, "X-Evil")
		})
	}
}

func TestRenderURL(t *testing.T) {
	tests := []struct {
		name, action, text, want string
	}{
		{"path under destination", `{destination: crm, url: "/messages/{{ message.id }}"}`, "",
			"https://crm.example.com/api/messages/3EB0A1B2C3D4E5F60718"},
		{"empty url posts to the destination", `{destination: crm}`, "",
			"https://crm.example.com/api/"},
		{"slash stays in the segment", `{destination: crm, url: "/notes/{{ text }}"}`, "a/b?x=#",
			"https://crm.example.com/api/notes/a%2Fb%3Fx%3D%23"},
		{"dots inside a segment", `{destination: crm, url: "/notes/{{ text }}"}`, "v1..2",
			"https://crm.example.com/api/notes/v1..2"},
		{"reserved characters", `{destination: crm, url: "/notes/{{ text }}"}`, "a b&c=d+e@f:g;h",
			"https://crm.example.com/api/notes/a%20b%26c%3Dd%2Be%40f%3Ag%3Bh"},
		{"unicode", `{destination: crm, url: "/notes/{{ text }}"}`, "café",
			"https://crm.example.com/api/notes/caf%C3%A9"},
		{"literal query in the path", `{destination: crm, url: "/search?v=1&q={{ text }}"}`, "a&admin=1",
			"https://crm.example.com/api/search?v=1&q=a%26admin%3D1"},
		{"query parameters", `{destination: crm, url: "/search", query: {q: "{{ text }}", from: "{{ sender.phone }}"}}`, "a&b=c d#",
			"https://crm.example.com/api/search?from=447441369136&q=a%26b%3Dc+d%23"},
		{"full url", `{url: "https://api.example.com/v1/{{ sender.phone }}/notes"}`, "",
			"https://api.example.com/v1/447441369136/notes"},
		{"full url, hostile value", `{url: "https://api.example.com/v1/{{ text }}"}`, "@evil.example/",
			"https://api.example.com/v1/%40evil.example%2F"},
		{"static full url", `{url: "https://api.example.com/hook?k=1"}`, "",
			"https://api.example.com/hook?k=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := renderOne(t, rulesWith(tt.action), actionstest.WithText(tt.text))
			require.Equal(t, tt.want, req.URL)
		})
	}
}

func TestRenderDotSegmentIsAnError(t *testing.T) {
	for _, text := range []string{"..", ".", "../../admin?x=#", "x/../../admin"} {
		rs := render(t, rulesWith(`{destination: crm, url: "/notes/{{ text }}"}`), actionstest.WithText(text))
		require.Len(t, rs, 1)
		require.ErrorContains(t, rs[0].Err, `segment once decoded`, text)
	}
}

func TestRenderRequest(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: crm, method: put, url: "/contacts/{{ sender.phone }}",
        headers: {x-chat: "{{ chat_title }}", Authorization: "Token override"},
        body: {name: "{{ sender.wa_name }}", count: "{{ len(text) }}", tags: [a, "{{ type }}"], ok: true, none: null}}`),
		actionstest.WithText("hi"))
	require.Equal(t, actions.HTTPRequest{
		Method: "PUT",
		URL:    "https://crm.example.com/api/contacts/447441369136",
		Header: map[string]string{
			"Authorization": "Token override",
			"X-Chat":        "Sarah Brown",
			"Content-Type":  "application/json",
		},
		Body:      `{"count":2,"name":"Sarah Brown","none":null,"ok":true,"tags":["a","chat"]}`,
		TimeoutMS: 5000,
	}, req)
}

func TestRenderDefaults(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: crm, timeout: 1500ms}`), actionstest.BasePayload())
	require.Equal(t, "POST", req.Method)
	require.Equal(t, map[string]string{"Authorization": "Bearer crm-secret-token"}, req.Header)
	require.Empty(t, req.Body)
	require.EqualValues(t, 1500, req.TimeoutMS)
}

// TestHeaderLineBreakBecomesASpace: multi-line payload text in a header
// template neither adds a header nor fails the delivery: each control
// character becomes a space.
func TestHeaderLineBreakBecomesASpace(t *testing.T) {
	for name, want := range map[string]string{"x\r\nX-Evil: 1": "x  X-Evil: 1", "x\nX-Evil: 1": "x X-Evil: 1", "x\rX-Evil: 1": "x X-Evil: 1", "x\x00y": "x y", "bad \xff": "bad \uFFFD"} {
		p := actionstest.BasePayload()
		p["sender"].(map[string]any)["wa_name"] = name
		req := renderOne(t, rulesWith(`{destination: crm, headers: {X-Name: "{{ sender.wa_name }}"}}`), p)
		require.Equal(t, want, req.Header["X-Name"])
		require.NotContains(t, req.Header, "X-Evil")
	}
}

// hostile are message texts that broke JSON built by concatenation
// elsewhere.
var hostile = []string{
	`","admin":true,"x":"`,
	`quote " backslash \ slash /`,
	"new\nline\r\ttab",
	"nul \x00 byte",
	"line separator \u2028 and \u2029",
	"<script>alert(1)</script> & more",
	"{{ 7*7 }}",
	"emoji 👍 and é",
}

func TestBodyIsValidJSON(t *testing.T) {
	for _, text := range hostile {
		req := renderOne(t, rulesWith(`{destination: crm, body: {text: "{{ text }}", quoted: "said: {{ text }}"}}`), actionstest.WithText(text))
		var got map[string]string
		require.NoError(t, json.Unmarshal([]byte(req.Body), &got), req.Body)
		require.Equal(t, map[string]string{"text": text, "quoted": "said: " + text}, got)
	}
}

func TestBodyWithInvalidUTF8(t *testing.T) {
	rs := actionstest.Load(t, rulesWith(`{destination: crm, body: {text: "{{ text }}"}}`), testEnv)
	payload := []byte("{\"direction\":\"received\",\"message\":{\"type\":\"chat\",\"text\":\"bad \xff\xfe bytes\"}}")
	out := actionstest.RenderJSON(t, rs, payload)
	require.Len(t, out, 1)
	require.NoError(t, out[0].Err)
	actionstest.Stored(t, out[0].Request, notStored...)
	req := *actionstest.WireAs[*actions.HTTPRequest](t, rs, out[0].Request)
	require.True(t, json.Valid([]byte(req.Body)))
	require.Contains(t, req.Body, "bad \uFFFD\uFFFD bytes")
}

func TestRawBody(t *testing.T) {
	t.Run("json content type escapes values", func(t *testing.T) {
		for _, text := range hostile {
			req := renderOne(t, rulesWith(`{destination: crm, content_type: application/json, raw_body: '{"text": "{{ text }}"}'}`), actionstest.WithText(text))
			var got map[string]string
			require.NoError(t, json.Unmarshal([]byte(req.Body), &got), req.Body)
			require.Equal(t, map[string]string{"text": text}, got, "exactly one field")
			require.Equal(t, "application/json", req.Header["Content-Type"])
		}
	})
	t.Run("json that does not parse is an error", func(t *testing.T) {
		rs := render(t, rulesWith(`{destination: crm, content_type: application/json, raw_body: '{"text": {{ text }}}'}`), actionstest.WithText("hi"))
		require.ErrorContains(t, rs[0].Err, "raw_body is not valid JSON once rendered")
	})
	t.Run("form values are query-escaped", func(t *testing.T) {
		req := renderOne(t, rulesWith(`{destination: crm, content_type: application/x-www-form-urlencoded, raw_body: "text={{ text }}&v=1"}`), actionstest.WithText("a&admin=1 2"))
		require.Equal(t, "text=a%26admin%3D1+2&v=1", req.Body)
	})
	t.Run("plain text is sent as is", func(t *testing.T) {
		req := renderOne(t, rulesWith(`{destination: crm, raw_body: "got: {{ text }}"}`), actionstest.WithText("a\n<b>"))
		require.Equal(t, "got: a\n<b>", req.Body)
		require.Equal(t, "text/plain; charset=utf-8", req.Header["Content-Type"])
	})
}

func TestFormat(t *testing.T) {
	req := renderOne(t, rulesWith(`{destination: crm, url: "/c/{{ sender.phone }}", body: {name: "{{ sender.wa_name }}"}}`), actionstest.BasePayload())
	out, err := webhook.Kind.Format(&req)
	require.NoError(t, err)
	require.Equal(t, `POST https://crm.example.com/api/c/447441369136
Authorization: Bearer crm-secret-token
Content-Type: application/json

{
  "name": "Sarah Brown"
}
`, out)
}

func TestDestinationPrintsNoSecret(t *testing.T) {
	rs := actionstest.Load(t, rulesWith(`{destination: crm}`), testEnv)
	d := rs.Destinations["crm"].Config
	for _, s := range []string{actionstest.FmtAll(d), mustJSON(t, d)} {
		require.NotContains(t, s, "crm-secret-token")
		require.Contains(t, s, "crm.example.com")
	}
}

func TestPathEscape(t *testing.T) {
	require.Equal(t, "a%20b%2Fc", webhook.PathEscape("a b/c"))
	require.Equal(t, "", webhook.PathEscape(""))
	require.Equal(t, "a.b-c_d~e", webhook.PathEscape("a.b-c_d~e"))
}

func mustJSON(t *testing.T, v any) string {
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}

// TestHeadersThroughAnAlias: headers written as a YAML alias are checked
// and sent like any others.
func TestHeadersThroughAnAlias(t *testing.T) {
	rules := `destinations:
  a: {kind: http, url: "https://a.example.com/", headers: &h {X-A: "1"}}
  b: {kind: http, url: "https://b.example.com/"}
rules:
  - {name: r, when: "true", actions: [http: {destination: b, url: /x, headers: *h}]}
`
	req := renderOne(t, rules, actionstest.BasePayload())
	require.Equal(t, map[string]string{"X-A": "1"}, req.Header)
}
