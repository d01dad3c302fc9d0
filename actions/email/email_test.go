package email_test

import (
	"encoding/json"
	"net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/email"
)

// rulesWith is a rules file whose only action, on line 8, is the email
// action written in flow style after "      - email: " (its mapping starts
// at column 16).
func rulesWith(action string) string {
	return `destinations:
  mail: {kind: email, smtp: "smtp.example.com:587", username: bot, password: "${SMTP_PASSWORD}", from: "Switchboard <bot@example.com>"}
  ops: {kind: email, host: "127.0.0.1", tls: none, to: ["Ops Team <ops@example.com>"], from: "bot@example.com"}
rules:
  - name: r
    when: "true"
    actions:
      - email: ` + action + "\n"
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, rules, want string
	}{
		{"unknown field", rulesWith(`{destination: mail, to: [a@example.com], subject: s, text: t, bc: [b@example.com]}`),
			`rules.yaml:8:78: unknown field "bc" (did you mean "bcc"?)`},
		{"no destination", rulesWith(`{to: [a@example.com], subject: s, text: t}`),
			`rules.yaml:8:16: destination is required: the name of a ` + "`kind: email`" + ` destination`},
		{"no subject", rulesWith(`{destination: mail, to: [a@example.com], text: t}`),
			`rules.yaml:8:16: subject is required`},
		{"no body", rulesWith(`{destination: mail, to: [a@example.com], subject: s}`),
			`rules.yaml:8:16: text or html is required`},
		{"no recipient", rulesWith(`{destination: mail, subject: s, text: t}`),
			`rules.yaml:8:16: no recipient: set to, cc or bcc (or to on the destination)`},
		{"bad static address", rulesWith(`{destination: mail, to: ["sales at example.com"], subject: s, text: t}`),
			`rules.yaml:8:41: to: "sales at example.com" is not one email address`},
		{"two addresses in one", rulesWith(`{destination: mail, to: ["a@example.com, b@example.com"], subject: s, text: t}`),
			`rules.yaml:8:41: to: "a@example.com, b@example.com" is not one email address`},
		{"bad static from", rulesWith(`{destination: mail, from: "bot", to: [a@example.com], subject: s, text: t}`),
			`rules.yaml:8:42: from: "bot" is not one email address`},
		{"template error", rulesWith(`{destination: mail, to: ["{{ user_mail }}"], subject: s, text: t}`),
			`rules.yaml:8:45: unknown name user_mail`},
		{"destination without server", actionstest.RulesWithDest(`{kind: email, from: a@example.com}`),
			`rules.yaml:2:6: smtp (host:port) is required`},
		{"smtp without port", actionstest.RulesWithDest(`{kind: email, smtp: smtp.example.com}`),
			`rules.yaml:2:26: smtp: expected host:port such as smtp.example.com:587, got "smtp.example.com"`},
		{"smtp and host", actionstest.RulesWithDest(`{kind: email, smtp: "a.example.com:25", host: b.example.com}`),
			`rules.yaml:2:26: set smtp (host:port) or host and port, not both`},
		{"bad port", actionstest.RulesWithDest(`{kind: email, host: a.example.com, port: 70000}`),
			`rules.yaml:2:47: port: 70000 is not a TCP port`},
		{"bad tls", actionstest.RulesWithDest(`{kind: email, smtp: "a.example.com:25", tls: ssl}`),
			`rules.yaml:2:51: tls: "ssl" is not one of starttls, tls, none`},
		{"password in clear text", actionstest.RulesWithDest(`{kind: email, smtp: "a.example.com:25", tls: none, username: u, password: p}`),
			`rules.yaml:2:51: tls: none would send the password in clear text to a.example.com; use starttls or tls`},
		{"username without password", actionstest.RulesWithDest(`{kind: email, smtp: "a.example.com:587", username: u}`),
			`rules.yaml:2:6: username and password go together: set both or neither`},
		{"bad destination to", actionstest.RulesWithDest(`{kind: email, smtp: "a.example.com:587", to: [ok@example.com, "not an address"]}`),
			`rules.yaml:2:68: to: "not an address" is not one email address`},
		{"no from anywhere", `destinations:
  d: {kind: email, smtp: "a.example.com:587"}
rules:
  - {name: r, when: "true", actions: [email: {destination: d, to: [a@example.com], subject: s, text: t}]}
`, `rules.yaml:4:46: from is required: set it on the action or on the destination`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, testEnv, tt.want, "smtp-secret-password")
		})
	}
}

func TestRender(t *testing.T) {
	m, req := renderOne(t, rulesWith(`{destination: mail,
        to: ["sales@example.com", "{{ sender.wa_name }} <{{ user_email }}>"], cc: ["{{ chat_id == '' ? '' : 'cc@example.com' }}"],
        bcc: ["audit@example.com"], reply_to: "{{ user_email }}",
        subject: "Message from {{ chat_title }}", text: "{{ text }}", html: "<p>{{ text }}</p>"}`),
		actionstest.WithText(`<script>alert("x")</script> & co`))
	require.Equal(t, email.Message{
		SMTP:    "smtp.example.com:587",
		From:    `"Switchboard" <bot@example.com>`,
		To:      []string{"sales@example.com", `"Sarah Brown" <agent@example.com>`},
		Cc:      []string{"cc@example.com"},
		Bcc:     []string{"audit@example.com"},
		ReplyTo: "agent@example.com",
		Subject: "Message from Sarah Brown",
		Text:    `<script>alert("x")</script> & co`,
		HTML:    `<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co</p>`,
	}, m)
	body := string(req.Body)
	require.NotContains(t, body, "smtp-secret-password")
	require.NotContains(t, body, "password")
	require.NotContains(t, body, "username")
}

func TestDestinationDefaults(t *testing.T) {
	m, _ := renderOne(t, rulesWith(`{destination: ops, subject: "s", html: "<b>{{ sender.wa_name }}</b>"}`), actionstest.BasePayload())
	require.Equal(t, email.Message{
		SMTP:    "127.0.0.1:25",
		From:    "bot@example.com",
		To:      []string{`"Ops Team" <ops@example.com>`},
		Subject: "s",
		HTML:    "<b>Sarah Brown</b>",
	}, m)

	m, _ = renderOne(t, rulesWith(`{destination: ops, to: [a@example.com], subject: "s", text: t}`), actionstest.BasePayload())
	require.Equal(t, []string{"a@example.com"}, m.To, "the action's to replaces the destination's")

	m, _ = renderOne(t, rulesWith(`{destination: ops, cc: [a@example.com], subject: "s", text: t}`), actionstest.BasePayload())
	require.Equal(t, []string{`"Ops Team" <ops@example.com>`}, m.To, "cc alone keeps the destination's to")
}

// TestSubjectCannotAddAHeader: a chat title with CRLF stays in the one
// Subject line.
func TestSubjectCannotAddAHeader(t *testing.T) {
	for _, title := range []string{"Acme\r\nBcc: x@evil.example", "Acme\nBcc: x@evil.example", "Acme\rBcc: x@evil.example", "Acme\u2028Bcc: x@evil.example"} {
		p := actionstest.BasePayload()
		p["chat_title"] = title
		m, _ := renderOne(t, rulesWith(`{destination: mail, to: [a@example.com], subject: "File from {{ chat_title }}", text: "t"}`), p)
		require.NotContains(t, m.Subject, "\n")
		require.NotContains(t, m.Subject, "\r")
		require.True(t, strings.HasPrefix(m.Subject, "File from Acme"))
		require.Empty(t, m.Bcc)
		out, err := email.Kind.Format(&m)
		require.NoError(t, err)
		header, _, _ := strings.Cut(out, "\n\n")
		for _, line := range strings.Split(header, "\n") {
			require.False(t, strings.HasPrefix(line, "Bcc:"), "injected header in:\n%s", out)
		}
		require.Len(t, strings.Split(header, "\n"), 3, "From, To, Subject:\n%s", out)
	}
}

func TestBadRenderedAddressIsAnError(t *testing.T) {
	for _, addr := range []string{
		"a@b.c>\r\nDATA\r\n.\r\n",
		"a@b.c\r\nBcc: evil@example.com",
		"a@example.com, evil@example.com",
		"not an address",
	} {
		p := actionstest.BasePayload()
		p["user_email"] = addr
		out := render(t, rulesWith(`{destination: mail, to: ["{{ user_email }}"], subject: s, text: t}`), p)
		require.Len(t, out, 1)
		require.Error(t, out[0].Err, addr)
		require.Contains(t, out[0].Err.Error(), "email: to: ")
		require.Contains(t, out[0].Err.Error(), "is not one email address")
	}
}

// TestDisplayNameCannotChangeTheAddress: whatever the payload puts in a
// display name, the message either goes to the address the author wrote
// or is not rendered at all.
func TestDisplayNameCannotChangeTheAddress(t *testing.T) {
	for _, name := range []string{
		"Eve", "Dr. Who", "O'Brien", "José Núñez", `"quoted"`, `back\slash`, "a, b", "x@evil.example",
		"<x@evil.example>", "x@evil.example <x@evil.example>, ", "g: x@evil.example;", "g: x@evil.example,", "x (",
		"(comment) x@evil.example", "Eve\r\nBcc: x@evil.example", "=?utf-8?q?x@evil.example?=", "\"x\" <x@evil.example>\r\n",
	} {
		p := actionstest.BasePayload()
		p["sender"].(map[string]any)["wa_name"] = name
		out := render(t, rulesWith(`{destination: mail, to: ["{{ sender.wa_name }} <sales@example.com>"], subject: s, text: t}`), p)
		require.Len(t, out, 1)
		if out[0].Err != nil {
			continue
		}
		var m email.Draft
		require.NoError(t, json.Unmarshal(out[0].Request.Body, &m))
		require.Len(t, m.To, 1)
		a, err := mail.ParseAddress(m.To[0])
		require.NoError(t, err)
		require.Equal(t, "sales@example.com", a.Address, "name %q", name)
		require.NotContains(t, a.Name, "\n")
	}
}

func TestEmptyRecipientsAreLeftOut(t *testing.T) {
	p := actionstest.BasePayload()
	p["user_email"] = ""
	m, _ := renderOne(t, rulesWith(`{destination: mail, to: ["{{ user_email }}", b@example.com], reply_to: "{{ user_email }}", subject: s, text: t}`), p)
	require.Equal(t, []string{"b@example.com"}, m.To)
	require.Empty(t, m.ReplyTo)

	out := render(t, rulesWith(`{destination: mail, to: ["{{ user_email }}"], subject: s, text: t}`), p)
	require.ErrorContains(t, out[0].Err, "email: every recipient is empty once rendered")
}

func TestBodiesAreValidJSON(t *testing.T) {
	for _, text := range []string{
		`","to":["evil@example.com"],"x":"`, `quote " backslash \`, "new\nline\r\ttab", "nul \x00",
		"a\u2028b\u2029", "bad \xff utf-8", "emoji 👍",
	} {
		p := actionstest.WithText(text)
		p["chat_title"] = text
		m, _ := renderOne(t, rulesWith(`{destination: mail, to: [a@example.com], subject: "{{ chat_title }}", text: "{{ text }}", html: "{{ text }}"}`), p)
		require.Equal(t, []string{"a@example.com"}, m.To)
		require.True(t, strings.Contains(m.Text, strings.ToValidUTF8(text, "\uFFFD")) || strings.Contains(text, "\xff"))
	}
}

func TestFormat(t *testing.T) {
	m, _ := renderOne(t, rulesWith(`{destination: mail, to: ["{{ sender.wa_name }} <{{ user_email }}>", b@example.com],
        cc: [c@example.com], bcc: [d@example.com], reply_to: "r@example.com",
        subject: "Hi {{ chat_title }}", text: "{{ text }}", html: "<p>{{ text }}</p>"}`), actionstest.WithText("Hello"))
	out, err := email.Kind.Format(&m)
	require.NoError(t, err)
	require.Equal(t, `From: Switchboard <bot@example.com>
To: Sarah Brown <agent@example.com>, b@example.com
Cc: c@example.com
Bcc: d@example.com
Reply-To: r@example.com
Subject: Hi Sarah Brown

Hello
--- html ---
<p>Hello</p>
`, out)

	m, _ = renderOne(t, rulesWith(`{destination: mail, to: [b@example.com], subject: "s", html: "<p>{{ text }}</p>"}`), actionstest.WithText("Hello"))
	out, err = email.Kind.Format(&m)
	require.NoError(t, err)
	require.Equal(t, "From: Switchboard <bot@example.com>\nTo: b@example.com\nSubject: s\n\n<p>Hello</p>\n", out)
}

func TestDestinationPrintsNoSecret(t *testing.T) {
	rs := actionstest.Load(t, rulesWith(`{destination: mail, to: [a@example.com], subject: s, text: t}`), testEnv)
	d := rs.Destinations["mail"].Config
	data, err := json.Marshal(d)
	require.NoError(t, err)
	for _, s := range []string{actionstest.FmtAll(d), string(data)} {
		require.NotContains(t, s, "smtp-secret-password")
		require.Contains(t, s, "smtp.example.com:587")
	}
}
