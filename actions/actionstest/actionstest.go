// Package actionstest holds what the tests of the action kinds share:
// loading a rules file with a test environment, the sample payload,
// rendering, the checks that no destination secret is stored or leaks from
// a send, and a loopback HTTP sink.
//
// It is for tests only: no package but a _test.go file may import it.
// What belongs to one kind (its rules files, its wire type) stays in that
// kind's test files.
package actionstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
)

// Now is the time every plan is made at.
var Now = time.Unix(1700000000, 0).UTC()

// TryLoad loads rules, named rules.yaml, with every built-in kind; env is
// the whole environment (nil: an empty one, never the process's). Use it
// where loading is expected to fail.
func TryLoad(rules string, env map[string]string) (*engine.RuleSet, error) {
	return engine.Load(engine.Options{
		Kinds:     builtin.Kinds(),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	}, engine.Source{Name: "rules.yaml", Data: []byte(rules)})
}

// Load is TryLoad for rules that must load.
func Load(t testing.TB, rules string, env map[string]string) *engine.RuleSet {
	t.Helper()
	rs, err := TryLoad(rules, env)
	require.NoError(t, err)
	return rs
}

// RequireLoadError checks that rules fail to load with an error that
// contains want and none of notShown.
func RequireLoadError(t testing.TB, rules string, env map[string]string, want string, notShown ...string) {
	t.Helper()
	_, err := TryLoad(rules, env)
	require.Error(t, err)
	require.Contains(t, err.Error(), want)
	for _, s := range notShown {
		require.NotContains(t, err.Error(), s, "a secret leaked into an error")
	}
}

// RulesWithDest is a rules file whose only destination, on line 2, is
// written after "  d: " (its mapping starts at column 6); its one rule
// only logs.
func RulesWithDest(dest string) string {
	return `destinations:
  d: ` + dest + `
rules:
  - name: r
    when: "true"
    actions:
      - log: {message: hi}
`
}

// BasePayload is a received chat message; tests change fields of the copy
// it returns.
func BasePayload() map[string]any {
	return map[string]any{
		"chat_id":    "447441369136@c.us",
		"chat_type":  "individual",
		"chat_title": "Sarah Brown",
		"user_phone": "447441368384",
		"user_email": "agent@example.com",
		"direction":  "received",
		"message": map[string]any{
			"id":   "3EB0A1B2C3D4E5F60718",
			"type": "chat",
			"text": "Hello, do you ship to Manchester?",
		},
		"timestamp": "1700000000",
		"sender":    map[string]any{"phone": "447441369136", "wa_name": "Sarah Brown"},
	}
}

// WithText returns BasePayload with message.text set to text.
func WithText(text string) map[string]any {
	p := BasePayload()
	p["message"].(map[string]any)["text"] = text
	return p
}

// Plan decodes the event data and plans it against rs at Now.
func Plan(t testing.TB, rs *engine.RuleSet, data []byte) *engine.Plan {
	t.Helper()
	ev, err := engine.Decode(data)
	require.NoError(t, err)
	p, err := rs.Plan(ev, engine.PlanOptions{Now: Now})
	require.NoError(t, err)
	return p
}

// RenderJSON renders every action of rs that matches the event data, in
// order.
func RenderJSON(t testing.TB, rs *engine.RuleSet, data []byte) []engine.Rendered {
	t.Helper()
	var out []engine.Rendered
	for _, m := range Plan(t, rs, data).Matches {
		out = append(out, m.Actions...)
	}
	return out
}

// Render is RenderJSON for a payload.
func Render(t testing.TB, rs *engine.RuleSet, payload map[string]any) []engine.Rendered {
	t.Helper()
	data, err := json.Marshal(payload)
	require.NoError(t, err)
	return RenderJSON(t, rs, data)
}

// RenderOnly renders payload, for which rs must have exactly one action,
// rendered without error, and returns its request as it is stored.
func RenderOnly(t testing.TB, rs *engine.RuleSet, payload map[string]any) actions.Request {
	t.Helper()
	out := Render(t, rs, payload)
	require.Len(t, out, 1)
	require.NoError(t, out[0].Err)
	return out[0].Request
}

// Stored checks a request as it is stored: its body is JSON and holds none
// of notStored (the destination's secrets, its URL, ...).
func Stored(t testing.TB, r actions.Request, notStored ...string) {
	t.Helper()
	require.True(t, json.Valid(r.Body), "request is not JSON: %s", r.Body)
	for _, s := range notStored {
		require.NotContains(t, string(r.Body), s, "the destination is stored")
	}
}

// WireAs returns the wire form of r, what is sent, which must be a W.
func WireAs[W any](t testing.TB, rs *engine.RuleSet, r actions.Request) W {
	t.Helper()
	wire, err := rs.Wire(r)
	require.NoError(t, err)
	w, ok := wire.(W)
	require.True(t, ok, "wire form is a %T", wire)
	return w
}

// RenderOne renders the only action of rs for payload, checks its stored
// request with Stored and returns its wire form, a W, and the request.
func RenderOne[W any](t testing.TB, rs *engine.RuleSet, payload map[string]any, notStored ...string) (W, actions.Request) {
	t.Helper()
	r := RenderOnly(t, rs, payload)
	Stored(t, r, notStored...)
	return WireAs[W](t, rs, r), r
}

// AssertNoSecret checks that s shows no value of secrets, an environment
// (name to value).
func AssertNoSecret(t testing.TB, s string, secrets map[string]string) {
	t.Helper()
	for name, secret := range secrets {
		require.NotContains(t, s, secret, "the value of %s shows", name)
	}
}

// FmtAll prints v with every verb that could show a secret.
func FmtAll(v any) string {
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
}

// Hostile is payload text written to break outputs: chat mentions and
// links, Markdown and HTML of every flavour, spreadsheet formulas, JSON
// and header breakers, encoded words, line separators and control
// characters, template and environment syntax, invalid UTF-8 and a 60 KB
// value. Every kind's shared checks render all of it (see
// actions/builtin).
var Hostile = []string{
	"<!channel> <@U024BE7LH> <https://evil.example|click> @here",
	"*bold* _it_ __u__ [link](https://evil.example) `code` ~s~ ||spoiler|| \\*esc\\* # h\n- item\n1. one",
	`<b>x</b><a href="https://evil.example">y</a><script>alert(1)</script> &amp; &lt; &#60;`,
	`=HYPERLINK("https://evil.example","x")`, "+1+1", "-2+3", "@SUM(A1:A2)", "=cmd|' /C calc'!A0",
	`","admin":true,"x":"`, "line1\r\nX-Injected: 1\r\n\r\nbody",
	"=?utf-8?b?SGk=?= =?iso-8859-1?q?caf=E9?=",
	"\u2028\u2029\x00\x07\x7f\u202e",
	"{{ 7 * 7 }} ${SECRET} $${X} {contactId}",
	"\xff\xfe not UTF-8",
	strings.Repeat("A", 60_000),
}
