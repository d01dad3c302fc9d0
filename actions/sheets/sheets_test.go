package sheets_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/sheets"
	"github.com/switchboard-dev/switchboard/engine"
)

// rulesAt has the destination `leads` at api, its key from ${SA_KEY}, and
// one sheets action on line 9 after "      - sheets: " (its mapping
// starts at column 17).
func rulesAt(api, action string) string {
	return `destinations:
  leads: {kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: "Leads!A:D", api_url: "` + api + `"}
rules:
  - name: r
    when: "true"
    group: {key: "{{ chat_id }}", window: 1m}
    actions:

      - sheets: ` + action + "\n"
}

const row = `{destination: leads, cells: ["{{ time }}", "{{ sender.phone }}", "{{ sender.wa_name }}", "{{ text }}"]}`

type fixture struct {
	f   *fakeGoogle
	key string
	rs  *engine.RuleSet
	s   actions.Sender
}

func setup(t *testing.T, action string) *fixture {
	t.Helper()
	f, key := newFakeGoogle(t)
	rules := strings.Replace(rulesAt(f.srv.URL, action), "    group: {key: \"{{ chat_id }}\", window: 1m}\n", "", 1)
	rs := actionstest.Load(t, rules, map[string]string{"SA_KEY": key})
	s, err := sheets.Kind.NewSender(rs.Destinations["leads"].Config, actions.SenderOptions{})
	require.NoError(t, err)
	return &fixture{f: f, key: key, rs: rs, s: s}
}

func (x *fixture) send(t *testing.T, payload map[string]any) (actions.Request, error) {
	t.Helper()
	r := actionstest.RenderOnly(t, x.rs, payload)
	actionstest.Stored(t, r, x.key, "PRIVATE KEY")
	r.Key = "evt-1:r:0"
	return r, x.s.Send(context.Background(), r)
}

func TestLoadErrors(t *testing.T) {
	_, key := newFakeGoogle(t)
	env := map[string]string{"SA_KEY": key, "BAD_KEY": `{"type":"authorized_user","client_secret":"canary-client-secret"}`}
	dest := func(d string) string {
		return "destinations:\n  leads: " + d + "\nrules:\n  - {name: r, when: \"true\", actions: [log: {message: hi}]}\n"
	}
	action := func(a string) string {
		return strings.Replace(rulesAt("https://sheets.googleapis.com", a), "    group: {key: \"{{ chat_id }}\", window: 1m}\n", "", 1)
	}
	tests := []struct{ name, rules, want string }{
		{"unknown field", action(`{destination: leads, cels: []}`), `rules.yaml:8:38: unknown field "cels" (did you mean "cells"?)`},
		{"no cells", action(`{destination: leads}`), `rules.yaml:8:17: cells is required`},
		{"cells and rows", action(`{destination: leads, cells: [a], rows: "{{ [] }}"}`), `rules.yaml:8:56: set cells (one row) or rows (a list of rows), not both`},
		{"no credentials", dest(`{kind: sheets, spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms}`), `rules.yaml:2:10: credentials is required`},
		{"not a service account", dest(`{kind: sheets, credentials: "${BAD_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms}`), `rules.yaml:2:38: credentials: not a service account's key ("type" is not "service_account")`},
		{"bad spreadsheet id", dest(`{kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: "docs.google.com/x"}`), `rules.yaml:2:67: spreadsheet_id: "docs.google.com/x" is not a spreadsheet id`},
		{"no range", dest(`{kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms}`) + "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				actionstest.Load(t, tt.rules, env)
				return
			}
			actionstest.RequireLoadError(t, tt.rules, env, tt.want, "PRIVATE KEY", "canary-client-secret")
		})
	}
}

// TestFormulasAreText: cells whose payload text starts with = + - or @
// are stored as text, as is a phone number's +.
func TestFormulasAreText(t *testing.T) {
	x := setup(t, `{destination: leads, cells: ["{{ text }}", "{{ sender.phone }}", "+{{ sender.phone }}", "{{ len(text) }}"]}`)
	for _, text := range []string{`=HYPERLINK("https://evil.example","click")`, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "=1+1"} {
		_, err := x.send(t, actionstest.WithText(text))
		require.NoError(t, err)
	}
	rows := x.f.sheets["Leads"]
	require.Len(t, rows, 5)
	for _, r := range rows {
		for _, c := range r {
			require.False(t, c.Formula, "%v became a formula", c.Value)
		}
	}
	require.Equal(t, `=HYPERLINK("https://evil.example","click")`, rows[0][0].Value)
	require.Equal(t, "447441369136", rows[0][1].Value)
	require.Equal(t, "+447441369136", rows[0][2].Value)
	require.Equal(t, float64(42), rows[0][3].Value, "a number stays a number")
	for _, rec := range x.f.received {
		require.Contains(t, rec.URL, "valueInputOption=RAW")
	}
}

// TestLiveEqualsDryRun: Sheets receives exactly the wire form, with the
// access token in place of ***; dry-run prints neither the key nor the
// token.
func TestLiveEqualsDryRun(t *testing.T) {
	x := setup(t, row)
	r, err := x.send(t, actionstest.WithText("Hello"))
	require.NoError(t, err)
	w := actionstest.WireAs[*actions.HTTPRequest](t, x.rs, r)
	require.Equal(t, "Bearer ***", w.Header["Authorization"])
	sent := *w
	sent.Header = map[string]string{}
	for k, v := range w.Header {
		sent.Header[k] = v
	}
	sent.Header["Authorization"] = "Bearer " + x.f.token
	actionstest.RequireSentAsWired(t, &sent, x.f.received[0])

	wire, _, err := x.rs.WireMasked(r)
	require.NoError(t, err)
	out, err := sheets.Kind.Format(wire)
	require.NoError(t, err)
	out = x.rs.Redact(out)
	require.Equal(t, `POST `+x.f.srv.URL+`/v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values/Leads%21A:D:append?insertDataOption=INSERT_ROWS&valueInputOption=RAW
Authorization: Bearer ***
Content-Type: application/json
Idempotency-Key: evt-1:r:0

{
  "majorDimension": "ROWS",
  "range": "Leads!A:D",
  "values": [
    [
      "2023-11-14T22:13:20Z",
      "447441369136",
      "Sarah Brown",
      "Hello"
    ]
  ]
}
`, out)
	require.NotContains(t, out, x.f.token)
}

func TestTokenIsCachedAndRenewedOn401(t *testing.T) {
	x := setup(t, row)
	for range 3 {
		_, err := x.send(t, actionstest.BasePayload())
		require.NoError(t, err)
	}
	require.Equal(t, 1, x.f.tokensGiven)
	x.f.token = "ya29.revoked" // Google no longer takes the cached token
	_, err := x.send(t, actionstest.BasePayload())
	actionstest.RequireFailure(t, err, false, 0)
	require.Contains(t, err.Error(), "UNAUTHENTICATED")
	_, err = x.send(t, actionstest.BasePayload())
	require.NoError(t, err)
	require.Equal(t, 2, x.f.tokensGiven)
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		action    string
		prepare   func(f *fakeGoogle)
		permanent bool
		wait      time.Duration
		want      string
	}{
		{name: "not shared", action: `{destination: leads, cells: [x]}`, prepare: func(f *fakeGoogle) { f.id = "another-spreadsheet-id" }, permanent: true,
			want: `sheets: appending to destination "leads": HTTP 403 Forbidden: PERMISSION_DENIED: The caller does not have permission`},
		{name: "bad range", action: `{destination: leads, range: "Contacts!A:B", cells: [x]}`, permanent: true, want: "INVALID_ARGUMENT: Unable to parse range: Contacts!A:B"},
		{name: "quota", action: `{destination: leads, cells: [x]}`, prepare: func(f *fakeGoogle) { f.busy = 1 }, wait: 20 * time.Second, want: "RESOURCE_EXHAUSTED"},
		{name: "key refused", action: `{destination: leads, cells: [x]}`, prepare: func(f *fakeGoogle) { f.refuseKey = true }, permanent: true,
			want: `sheets: getting an access token for destination "leads": HTTP 400 invalid_grant: Invalid JWT Signature.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := setup(t, tt.action)
			if tt.prepare != nil {
				tt.prepare(x.f)
			}
			var logs bytes.Buffer
			s, err := sheets.Kind.NewSender(x.rs.Destinations["leads"].Config, actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)})
			require.NoError(t, err)
			r := actionstest.RenderOnly(t, x.rs, actionstest.BasePayload())
			err = s.Send(context.Background(), r)
			actionstest.RequireFailure(t, err, tt.permanent, tt.wait)
			require.Contains(t, err.Error(), tt.want)
			for _, secret := range []string{"PRIVATE KEY", "ya29.", x.key[:40]} {
				require.NotContains(t, err.Error(), secret)
				require.NotContains(t, logs.String(), secret)
			}
		})
	}
}

// TestGroupIsOneRequest: a grouped rule writes every message of its
// window as rows of one append.
func TestGroupIsOneRequest(t *testing.T) {
	f, key := newFakeGoogle(t)
	rs := actionstest.Load(t, rulesAt(f.srv.URL, `{destination: leads, rows: "{{ map(group, [#.time, #.sender.phone, #.text]) }}"}`), map[string]string{"SA_KEY": key})
	var items []engine.GroupItem
	var first *engine.Event
	for i, text := range []string{"first", "=2+2", "third"} {
		p := actionstest.WithText(text)
		p["timestamp"] = string(rune('0'+i)) + "700000000"
		data, err := jsonMarshal(p)
		require.NoError(t, err)
		ev, err := engine.Decode(data)
		require.NoError(t, err)
		if first == nil {
			first = ev
		}
		items = append(items, engine.ItemOf(ev))
	}
	plan := rs.PlanGroup(rs.Rule("r"), first, items, engine.PlanOptions{Now: actionstest.Now})
	require.Len(t, plan.Matches[0].Actions, 1)
	a := plan.Matches[0].Actions[0]
	require.NoError(t, a.Err)
	s, err := sheets.Kind.NewSender(rs.Destinations["leads"].Config, actions.SenderOptions{})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), a.Request))
	require.Len(t, f.received, 1, "one request for the group")
	rows := f.sheets["Leads"]
	require.Len(t, rows, 3)
	require.Equal(t, "=2+2", rows[1][2].Value)
	require.False(t, rows[1][2].Formula)
	require.Equal(t, "447441369136", rows[2][1].Value)
}

// TestCredentialsFile: a key file is read with the rules, relative to the
// rules file; a bad or missing one is a load error at its place, which
// never quotes the file; rules posted to the service cannot name one.
func TestCredentialsFile(t *testing.T) {
	f, key := newFakeGoogle(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sa.json"), []byte(key), 0o600))
	rules := strings.Replace(rulesAt(f.srv.URL, row), `credentials: "${SA_KEY}"`, `credentials_file: sa.json`, 1)
	rules = strings.Replace(rules, "    group: {key: \"{{ chat_id }}\", window: 1m}\n", "", 1)
	load := func(o engine.Options) (*engine.RuleSet, error) {
		o.Kinds = builtin.Kinds()
		return engine.Load(o, engine.Source{Name: filepath.Join(dir, "rules.yaml"), Data: []byte(rules)})
	}
	rs, err := load(engine.Options{})
	require.NoError(t, err)
	s, err := sheets.Kind.NewSender(rs.Destinations["leads"].Config, actions.SenderOptions{})
	require.NoError(t, err)
	r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
	require.NoError(t, s.Send(context.Background(), r))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "sa.json"), []byte(`{"private_key":"canary-not-a-key"}`), 0o600))
	_, err = load(engine.Options{})
	require.ErrorContains(t, err, `rules.yaml:2:43: credentials_file: not a service account's key ("type" is not "service_account")`)
	require.NotContains(t, err.Error(), "canary-not-a-key")
	require.NoError(t, os.Remove(filepath.Join(dir, "sa.json")))
	_, err = load(engine.Options{})
	require.ErrorContains(t, err, `rules.yaml:2:43: credentials_file: open `)
	require.ErrorContains(t, err, "no such file or directory")
	_, err = load(engine.Options{ReadFile: engine.NoFiles})
	require.ErrorContains(t, err, "rules sent to the service cannot name files")
}

func TestNotifyTest(t *testing.T) {
	x := setup(t, row)
	dest := x.rs.Destinations["leads"]
	req, err := sheets.Kind.TestRequest(dest.Config, actions.TestOptions{Text: "=Switchboard test"})
	require.NoError(t, err)
	req.Destination = "leads"
	require.NoError(t, x.s.Send(context.Background(), req))
	require.Equal(t, "=Switchboard test", x.f.sheets["Leads"][0][0].Value)
}

func TestRenderErrors(t *testing.T) {
	x := setup(t, `{destination: leads, cells: ["{{ sender }}"]}`)
	out := actionstest.Render(t, x.rs, actionstest.BasePayload())
	require.ErrorContains(t, out[0].Err, "sheets: cells[0] is a")
}

func TestDefaultRate(t *testing.T) {
	x := setup(t, row)
	require.Equal(t, actions.Rate{PerSecond: 1, Burst: 1}, x.rs.Destinations["leads"].Rate)
}
