package builtin_test

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/builtin"
)

const exampleRules = `
destinations:
  crm: {kind: http, url: "https://crm.example.com/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
  team: {kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
  mail: {kind: email, smtp: "smtp.example.com:587", username: bot, password: "${SMTP_PASSWORD}", from: "Switchboard <bot@example.com>"}
rules:
  - name: files-to-crm
    when: type in ["document", "pdf"] && direction == "received"
    actions:
      - http: {destination: crm, url: "/files/{{ message.id }}", body: {file: "{{ file_name }}", from: "{{ sender.phone }}"}}
      - slack: {destination: team, text: "{{ sender.wa_name }} sent {{ file_name }}"}
      - email: {destination: mail, to: ["sales@example.com"], subject: "File from {{ chat_title }}", text: "{{ text }}"}
      - log: {message: "file {{ file_name }}"}
  - name: everything
    when: "true"
    actions:
      - log: {message: "{{ type }} {{ direction }} from {{ sender.wa_name }}", fields: {text: "{{ text }}"}}
`

var testEnv = map[string]string{
	"CRM_TOKEN":         "crm-secret-token",
	"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/slack-secret",
	"SMTP_PASSWORD":     "smtp-secret-password",
}

// TestKinds: every registered kind has every part the service uses, under
// the name it gives itself.
func TestKinds(t *testing.T) {
	kinds := builtin.Kinds()
	require.NotEmpty(t, kinds)
	for name, k := range kinds {
		d, ok := k.(actions.Defined)
		require.True(t, ok, "%s is not built by actions.Define", name)
		require.Equal(t, name, d.Name())
		dc, ac := d.ConfigTypes()
		require.NotNil(t, dc, name)
		require.NotNil(t, ac, name)
	}
	require.Subset(t, slices.Collect(maps.Keys(kinds)), []string{"email", "http", "log", "slack"})
}

// TestExampleRules loads the README's example with every built-in kind and
// renders it for every sample payload: every request is valid JSON and
// prints, once redacted, without a secret.
func TestExampleRules(t *testing.T) {
	kinds := builtin.Kinds()
	rs := actionstest.Load(t, exampleRules, testEnv)

	files, err := filepath.Glob("../../testdata/cooby/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	seen := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range actionstest.Plan(t, rs, data).Matches {
			for _, a := range m.Actions {
				require.NoError(t, a.Err, "%s: rule %s", f, m.Rule.Name)
				require.True(t, json.Valid(a.Request.Body))
				actionstest.AssertNoSecret(t, string(a.Request.Body), testEnv)
				wire, err := rs.Wire(a.Request)
				require.NoError(t, err)
				out, err := kinds[a.Request.Kind].(actions.Formatter).Format(wire)
				require.NoError(t, err)
				actionstest.AssertNoSecret(t, rs.Redact(out), testEnv)
				seen[a.Request.Kind]++
			}
		}
	}
	require.Equal(t, 2, seen["http"], "received-document and received-pdf")
	require.Equal(t, 2, seen["slack"])
	require.Equal(t, 2, seen["email"])
	require.Equal(t, len(files)+2, seen["log"])
}

func TestExampleRequests(t *testing.T) {
	kinds := builtin.Kinds()
	rs := actionstest.Load(t, exampleRules, testEnv)
	data, err := os.ReadFile("../../testdata/cooby/received-document.json")
	require.NoError(t, err)
	p := actionstest.Plan(t, rs, data)
	require.Len(t, p.Matches, 2)

	var got []string
	for _, a := range p.Matches[0].Actions {
		require.NoError(t, a.Err)
		wire, err := rs.Wire(a.Request)
		require.NoError(t, err)
		out, err := kinds[a.Request.Kind].(actions.Formatter).Format(wire)
		require.NoError(t, err)
		got = append(got, a.Request.Kind+" "+a.Request.Destination+"\n"+rs.Redact(out))
	}
	require.Equal(t, `http crm
POST https://crm.example.com/api/files/3EB0D0C0000000000001
Authorization: Bearer ***
Content-Type: application/json

{
  "file": "invoice-october.docx",
  "from": "447441369136"
}

slack team
POST ***
Content-Type: application/json; charset=utf-8

{
  "text": "Sarah Brown sent invoice-october.docx",
  "unfurl_links": false,
  "unfurl_media": false
}

email mail
From: Switchboard <bot@example.com>
To: sales@example.com
Subject: File from Sarah Brown

Invoice for October

log 
info file invoice-october.docx`, strings.Join(got, "\n"))
}
