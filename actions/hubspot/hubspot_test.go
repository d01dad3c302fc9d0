package hubspot_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/hubspot"
	"github.com/switchboard-dev/switchboard/engine"
)

// token is the private app's token of the tests: it must never show.
const token = "pat-na1-canary-5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716"

// rulesAt has the destination `crm` at api and the actions given, the
// first on line 7 after "      - hubspot: " (its mapping starts at column
// 18).
func rulesAt(api string, actionList ...string) string {
	s := `destinations:
  crm: {kind: hubspot, token: "${HUBSPOT_TOKEN}", api_url: "` + api + `"}
rules:
  - name: r
    when: "true"
    actions:
`
	for _, a := range actionList {
		s += "      - hubspot: " + a + "\n"
	}
	return s
}

const (
	upsert = `{destination: crm, do: upsert_contact, phone: "{{ sender.phone }}", properties: {firstname: "{{ sender.wa_name }}", hs_lead_status: NEW}}`
	logMsg = `{destination: crm, do: log_message, phone: "{{ sender.phone }}", text: "{{ text }}"}`
)

type fixture struct {
	f  *fakeHubSpot
	rs *engine.RuleSet
	s  actions.Sender
}

func setup(t *testing.T, actionList ...string) *fixture {
	t.Helper()
	f := newFakeHubSpot(t, token)
	rs := actionstest.Load(t, rulesAt(f.srv.URL, actionList...), map[string]string{"HUBSPOT_TOKEN": token})
	s, err := hubspot.Kind.NewSender(rs.Destinations["crm"].Config, actions.SenderOptions{})
	require.NoError(t, err)
	return &fixture{f: f, rs: rs, s: s}
}

// deliver renders payload and sends every action, in order; it returns
// the requests and the errors.
func (x *fixture) deliver(t *testing.T, payload map[string]any) ([]actions.Request, []error) {
	t.Helper()
	var reqs []actions.Request
	var errs []error
	for i, a := range actionstest.Render(t, x.rs, payload) {
		require.NoError(t, a.Err)
		actionstest.Stored(t, a.Request, token)
		a.Request.Key = "evt-1:r:" + string(rune('0'+i))
		reqs = append(reqs, a.Request)
		errs = append(errs, x.s.Send(context.Background(), a.Request))
	}
	return reqs, errs
}

func TestLoadErrors(t *testing.T) {
	env := map[string]string{"HUBSPOT_TOKEN": token}
	rules := func(a string) string { return rulesAt("https://api.hubapi.com", a) }
	tests := []struct{ name, rules, want string }{
		{"unknown field", rules(`{destination: crm, do: upsert_contact, phone: x, propertes: {}}`), `rules.yaml:7:67: unknown field "propertes" (did you mean "properties"?)`},
		{"no do", rules(`{destination: crm, phone: x}`), `rules.yaml:7:18: do is required: one of upsert_contact, log_message`},
		{"do typo", rules(`{destination: crm, do: upsert_contacts, phone: x}`), `rules.yaml:7:41: do: "upsert_contacts" is not one of upsert_contact, log_message (did you mean "upsert_contact"?)`},
		{"no phone", rules(`{destination: crm, do: upsert_contact}`), `rules.yaml:7:18: phone is required`},
		{"properties on log_message", rules(`{destination: crm, do: log_message, phone: x, text: hi, properties: {a: b}}`), `rules.yaml:7:74: properties is for do: upsert_contact`},
		{"text on upsert", rules(`{destination: crm, do: upsert_contact, phone: x, text: hi}`), `rules.yaml:7:67: text is for do: log_message`},
		{"bad property name", rules(`{destination: crm, do: upsert_contact, phone: x, properties: {First Name: y}}`), `rules.yaml:7:80: properties: "First Name" is not a HubSpot property's internal name`},
		{"phone property", rules(`{destination: crm, do: upsert_contact, phone: x, properties: {phone: y}}`), `rules.yaml:7:80: properties: phone is set from phone:`},
		{"no text", rules(`{destination: crm, do: log_message, phone: x}`), `rules.yaml:7:18: text is required`},
		{"no token", `destinations:
  crm: {kind: hubspot}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:8: token is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, env, tt.want, token)
		})
	}
}

// TestUpsertContact: the first message creates the contact with its
// phone, a later one updates it; numbers written differently find it.
func TestUpsertContact(t *testing.T) {
	x := setup(t, upsert)
	_, errs := x.deliver(t, actionstest.BasePayload())
	require.NoError(t, errs[0])
	require.Len(t, x.f.contacts, 1)
	for _, c := range x.f.contacts {
		require.Equal(t, "+447441369136", c["phone"])
		require.Equal(t, "Sarah Brown", c["firstname"])
		require.Equal(t, "NEW", c["hs_lead_status"])
	}
	p := actionstest.BasePayload()
	p["sender"] = map[string]any{"phone": "0044 7441 369136", "wa_name": "Sarah B."}
	_, errs = x.deliver(t, p)
	require.NoError(t, errs[0])
	require.Len(t, x.f.contacts, 1, "found by its normalised number")
	for _, c := range x.f.contacts {
		require.Equal(t, "Sarah B.", c["firstname"])
	}
}

// TestUpsertFindsMobilePhone: a contact whose mobilephone is the number is
// updated, the oldest of several.
func TestUpsertFindsMobilePhone(t *testing.T) {
	x := setup(t, upsert)
	older := x.f.addContact(map[string]string{"mobilephone": "+447441369136", "firstname": "Old"})
	x.f.addContact(map[string]string{"phone": "+447441369136", "firstname": "Newer"})
	_, errs := x.deliver(t, actionstest.BasePayload())
	require.NoError(t, errs[0])
	require.Equal(t, "Sarah Brown", x.f.contacts[older]["firstname"])
	require.Len(t, x.f.contacts, 2)
}

// TestLogMessage: a note on the contact with the text (escaped HTML), the
// direction and the time; a repeat adds none.
func TestLogMessage(t *testing.T) {
	x := setup(t, upsert, logMsg)
	p := actionstest.WithText("<script>alert(1)</script> & <b>hi</b>\nline 2")
	_, errs := x.deliver(t, p)
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Len(t, x.f.notes, 1)
	for _, n := range x.f.notes {
		require.Equal(t, "2023-11-14T22:13:20.000Z", n.Properties["hs_timestamp"])
		require.Equal(t, "<p><strong>WhatsApp message received</strong></p><p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;hi&lt;/b&gt;<br>line 2</p><p>WhatsApp message id: 3EB0A1B2C3D4E5F60718</p>", n.Properties["hs_note_body"])
		require.Contains(t, x.f.contacts, n.ContactID)
	}
	_, errs = x.deliver(t, p)
	require.NoError(t, errs[1])
	require.Len(t, x.f.notes, 1, "the same message is logged once")

	p2 := actionstest.WithText("another")
	p2["message"].(map[string]any)["id"] = "3EB0FFFF"
	_, errs = x.deliver(t, p2)
	require.NoError(t, errs[1])
	require.Len(t, x.f.notes, 2)
}

func TestLogMessageWithoutContactIsRetried(t *testing.T) {
	x := setup(t, logMsg)
	_, errs := x.deliver(t, actionstest.BasePayload())
	actionstest.RequireFailure(t, errs[0], false, 0)
	require.EqualError(t, errs[0], "hubspot: no contact with phone +447441369136 yet (upsert_contact creates one)")
	require.Empty(t, x.f.notes)
}

// TestLiveEqualsDryRun: HubSpot receives exactly the plan's requests, the
// contact's id in place of {contactId}.
func TestLiveEqualsDryRun(t *testing.T) {
	x := setup(t, upsert, logMsg)
	id := x.f.addContact(map[string]string{"phone": "+447441369136"})
	reqs, errs := x.deliver(t, actionstest.BasePayload())
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	var want []*actions.HTTPRequest
	for _, r := range reqs {
		plan := actionstest.WireAs[*hubspot.Plan](t, x.rs, r)
		for _, s := range plan.Steps {
			if s.When == "no contact is found" {
				continue
			}
			w := *s.Request
			w.URL = strings.ReplaceAll(w.URL, hubspot.ContactID, id)
			w.Body = strings.ReplaceAll(w.Body, hubspot.ContactID, id)
			want = append(want, &w)
		}
	}
	require.Len(t, x.f.received, len(want))
	for i, w := range want {
		actionstest.RequireSentAsWired(t, w, x.f.received[i])
	}
}

func TestDryRun(t *testing.T) {
	x := setup(t, upsert)
	r := actionstest.RenderOnly(t, x.rs, actionstest.BasePayload())
	r.Key = "evt-1:r:0"
	wire, exact, err := x.rs.WireMasked(r)
	require.NoError(t, err)
	require.True(t, exact)
	out, err := hubspot.Kind.Format(wire)
	require.NoError(t, err)
	out = strings.ReplaceAll(out, x.f.srv.URL, "https://api.hubapi.com")
	golden(t, "testdata/dryrun-upsert.golden", out)
}

func TestDryRunLogMessage(t *testing.T) {
	x := setup(t, logMsg)
	r := actionstest.RenderOnly(t, x.rs, actionstest.WithText("Hi <b>there</b>\nsecond line"))
	r.Key = "evt-1:r:0"
	wire, exact, err := x.rs.WireMasked(r)
	require.NoError(t, err)
	require.True(t, exact)
	out, err := hubspot.Kind.Format(wire)
	require.NoError(t, err)
	golden(t, "testdata/dryrun-log-message.golden", strings.ReplaceAll(out, x.f.srv.URL, "https://api.hubapi.com"))
}

// update rewrites the golden files: go test ./actions/hubspot -update
var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// golden compares got with the file at path (or writes it with -update).
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		action     string
		tokenUsed  string
		busy       int
		retryAfter string
		permanent  bool
		wait       time.Duration
		want       string
	}{
		{name: "bad token", action: upsert, tokenUsed: "pat-na1-other-0000-0000-000000000000", permanent: true, want: `hubspot: searching the contact (destination "crm"): HTTP 401 Unauthorized: INVALID_AUTHENTICATION: Authentication credentials not found`},
		{name: "unknown property", action: `{destination: crm, do: upsert_contact, phone: "{{ sender.phone }}", properties: {favourite_color: blue}}`, permanent: true, want: `hubspot: creating the contact (destination "crm"): HTTP 400 Bad Request: VALIDATION_ERROR: Property values were not valid`},
		{name: "secondly limit", action: upsert, busy: 1, wait: time.Second, want: "RATE_LIMIT: You have reached your secondly limit."},
		{name: "limit with Retry-After", action: upsert, busy: 1, retryAfter: "7", wait: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHubSpot(t, token)
			f.busy, f.retryAfter = tt.busy, tt.retryAfter
			tok := token
			if tt.tokenUsed != "" {
				tok = tt.tokenUsed
			}
			rs := actionstest.Load(t, rulesAt(f.srv.URL, tt.action), map[string]string{"HUBSPOT_TOKEN": tok})
			r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
			var logs bytes.Buffer
			s := actionstest.NewSender(t, hubspot.Kind, rs, r, actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)})
			err := s.Send(context.Background(), r)
			actionstest.RequireFailure(t, err, tt.permanent, tt.wait)
			require.Contains(t, err.Error(), tt.want)
			require.NotContains(t, err.Error(), tok)
			require.NotContains(t, logs.String(), tok)
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	for _, code := range []int{500, 502, 503} {
		srv, _ := actionstest.NewSink(t, actionstest.Reply(code, nil, `{"status":"error","message":"internal error `+token+`","category":"INTERNAL_ERROR"}`))
		rs := actionstest.Load(t, rulesAt(srv.URL, upsert), map[string]string{"HUBSPOT_TOKEN": token})
		r := actionstest.RenderOnly(t, rs, actionstest.BasePayload())
		s := actionstest.NewSender(t, hubspot.Kind, rs, r, actions.SenderOptions{})
		err := s.Send(context.Background(), r)
		actionstest.RequireFailure(t, err, false, 0)
		require.NotContains(t, err.Error(), token)
		require.Contains(t, err.Error(), "INTERNAL_ERROR: internal error ***")
	}
}

func TestNotifyTest(t *testing.T) {
	x := setup(t, upsert)
	dest := x.rs.Destinations["crm"]
	req, err := hubspot.Kind.TestRequest(dest.Config, actions.TestOptions{Text: "t"})
	require.NoError(t, err)
	req.Destination = "crm"
	require.NoError(t, x.s.Send(context.Background(), req))
	require.Equal(t, "GET", x.f.received[0].Method)
	require.Empty(t, x.f.contacts, "a test changes nothing")
}

func TestRenderErrors(t *testing.T) {
	x := setup(t, upsert)
	p := actionstest.BasePayload()
	p["sender"] = map[string]any{"phone": "unknown", "wa_name": "x"}
	out := actionstest.Render(t, x.rs, p)
	require.ErrorContains(t, out[0].Err, `hubspot: phone: "unknown" is not a phone number once rendered`)
}

func TestDefaultRate(t *testing.T) {
	x := setup(t, upsert)
	require.Equal(t, actions.Rate{PerSecond: 2, Burst: 2}, x.rs.Destinations["crm"].Rate)
}
