package email_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/email"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/testsmtp"
)

// canaryPassword must never show in an error or a log line.
const canaryPassword = "canary-pw-0b9e4f2a7c1d"

// mailRules has one email destination on SMTP_ADDR and one action.
func mailRules(dest, action string) string {
	return `destinations:
  mail: {kind: email, smtp: "${SMTP_ADDR}", from: "Switchboard <bot@example.com>", to: [ops@example.com]` + dest + `}
rules:
  - {name: r, when: "true", actions: [email: ` + action + `]}
`
}

// setupMail loads mailRules for a server at addr, renders the action for
// payload and builds the destination's sender.
func setupMail(t *testing.T, addr, dest, action string, payload map[string]any, o actions.SenderOptions) (*engine.RuleSet, actions.Request, actions.Sender) {
	t.Helper()
	env := map[string]string{"SMTP_ADDR": addr, "SMTP_PASSWORD": canaryPassword}
	rs := actionstest.Load(t, mailRules(dest, action), env)
	r := actionstest.RenderOnly(t, rs, payload)
	r.Key = "evt-1:r:0"
	return rs, r, actionstest.NewSender(t, email.Kind, rs, r, o)
}

// TestDelivery: the message reaches the server with the wire form's
// envelope and headers; a CRLF in the subject adds neither a header nor a
// recipient, and the HTML part escapes event values.
func TestDelivery(t *testing.T) {
	mb := testsmtp.Start(t, "", "")
	p := actionstest.WithText(`<script>alert("x")</script> & co`)
	p["chat_title"] = "Acme\r\nBcc: evil@example.com"
	rs, r, s := setupMail(t, mb.Addr, `, tls: none`, `{destination: mail,
        to: ["{{ sender.wa_name }} <sales@example.com>"], cc: [cc@example.com], bcc: [audit@example.com],
        reply_to: "{{ user_email }}", subject: "File from {{ chat_title }}", text: "{{ text }}", html: "<p>{{ text }}</p>"}`, p, actions.SenderOptions{})
	wire, err := rs.Wire(r)
	require.NoError(t, err)
	w := wire.(*email.Message)

	require.NoError(t, s.Send(context.Background(), r))
	got := mb.Messages()
	require.Len(t, got, 1)
	env := got[0]
	require.Equal(t, "bot@example.com", env.From)
	require.ElementsMatch(t, []string{"sales@example.com", "cc@example.com", "audit@example.com"}, env.To)
	require.NotContains(t, strings.ToLower(string(env.Data)), "evil@example.com>")

	msg, err := mail.ReadMessage(bytes.NewReader(env.Data))
	require.NoError(t, err)
	require.Empty(t, msg.Header["Bcc"], "Bcc is never a header")
	for _, h := range []string{"From", "To", "Cc", "Reply-To", "Subject", "Message-Id"} {
		require.Len(t, msg.Header[h], 1, h)
	}
	requireAddresses(t, []string{w.From}, msg.Header.Get("From"))
	requireAddresses(t, w.To, msg.Header.Get("To"))
	requireAddresses(t, w.Cc, msg.Header.Get("Cc"))
	requireAddresses(t, []string{w.ReplyTo}, msg.Header.Get("Reply-To"))
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, w.Subject, subject)
	require.Equal(t, "File from Acme  Bcc: evil@example.com", subject)
	require.Equal(t, "<"+w.MessageID+">", msg.Header.Get("Message-Id"))

	parts := readParts(t, msg)
	require.Equal(t, w.Text, parts["text/plain"])
	require.Equal(t, w.HTML, parts["text/html"])
	require.Contains(t, parts["text/html"], "&lt;script&gt;")
	require.NotContains(t, parts["text/html"], "<script>")
}

// requireAddresses checks that a header lists the wire form's addresses.
func requireAddresses(t *testing.T, want []string, header string) {
	t.Helper()
	got, err := mail.ParseAddressList(header)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i, a := range got {
		w, err := mail.ParseAddress(want[i])
		require.NoError(t, err)
		require.Equal(t, w.Address, a.Address)
		require.Equal(t, w.Name, a.Name)
	}
}

// readParts returns the body of each part by media type (one part, or a
// multipart/alternative).
func readParts(t *testing.T, msg *mail.Message) map[string]string {
	t.Helper()
	media, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	out := map[string]string{}
	if !strings.HasPrefix(media, "multipart/") {
		body, err := io.ReadAll(msg.Body)
		require.NoError(t, err)
		out[media] = strings.TrimSuffix(string(body), "\r\n")
		return out
	}
	require.Equal(t, "multipart/alternative", media)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		pm, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		body, err := io.ReadAll(part)
		require.NoError(t, err)
		out[pm] = strings.TrimSuffix(string(body), "\r\n")
	}
}

func TestSingleBodies(t *testing.T) {
	mb := testsmtp.Start(t, "", "")
	for _, tt := range []struct{ action, media, want string }{
		{`{destination: mail, subject: s, text: "plain {{ text }}"}`, "text/plain", "plain hi"},
		{`{destination: mail, subject: s, html: "<b>{{ text }}</b>"}`, "text/html", "<b>hi</b>"},
	} {
		_, r, s := setupMail(t, mb.Addr, `, tls: none`, tt.action, actionstest.WithText("hi"), actions.SenderOptions{})
		require.NoError(t, s.Send(context.Background(), r))
		got := mb.Messages()
		env := got[len(got)-1]
		require.Equal(t, []string{"ops@example.com"}, env.To, "the destination's to")
		msg, err := mail.ReadMessage(bytes.NewReader(env.Data))
		require.NoError(t, err)
		require.Equal(t, map[string]string{tt.media: tt.want}, readParts(t, msg))
	}
}

func TestLogin(t *testing.T) {
	dest := `, tls: none, username: bot, password: "${SMTP_PASSWORD}"`
	mb := testsmtp.Start(t, "bot", canaryPassword)
	_, r, s := setupMail(t, mb.Addr, dest, `{destination: mail, subject: s, text: t}`, actionstest.BasePayload(), actions.SenderOptions{})
	require.NoError(t, s.Send(context.Background(), r))
	require.Len(t, mb.Messages(), 1)

	// This server refuses with 454, a temporary failure.
	other := testsmtp.Start(t, "bot", "another")
	var logs bytes.Buffer
	o := actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)}
	_, r, s = setupMail(t, other.Addr, dest, `{destination: mail, subject: s, text: t}`, actionstest.BasePayload(), o)
	err := actionstest.AssertSendLeaksNoSecret(t, s, r, &logs, canaryPassword)
	require.ErrorContains(t, err, "454")
	require.False(t, actions.IsPermanent(err))
}

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		addr      func(t *testing.T) string
		dest      string
		o         actions.SenderOptions
		permanent bool
		want      string
	}{
		{name: "550 recipient", addr: rejecting(550), dest: `, tls: none`, permanent: true, want: "550"},
		{name: "451 recipient", addr: rejecting(451), dest: `, tls: none`, want: "451"},
		{name: "connection refused", addr: refused, dest: `, tls: none`, want: `email to destination "mail": connection refused`},
		{name: "silent server", addr: silent, dest: `, tls: none`, o: actions.SenderOptions{Timeout: 50 * time.Millisecond}, want: `email to destination "mail": timeout`},
		{name: "implicit TLS to a plain server", addr: func(t *testing.T) string { return testsmtp.Start(t, "", "").Addr }, dest: `, tls: tls`, o: actions.SenderOptions{Timeout: time.Second}, want: "tls"},
		{name: "starttls required", addr: func(t *testing.T) string { return testsmtp.Start(t, "", "").Addr }, dest: ``, want: "STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r, s := setupMail(t, tt.addr(t), tt.dest, `{destination: mail, subject: s, text: t}`, actionstest.BasePayload(), tt.o)
			err := s.Send(context.Background(), r)
			require.Error(t, err)
			require.Equal(t, tt.permanent, actions.IsPermanent(err), err.Error())
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// rejecting starts a server that answers RCPT TO with code.
func rejecting(code int) func(t *testing.T) string {
	return func(t *testing.T) string {
		mb := testsmtp.Start(t, "", "")
		mb.Fail = func(string) error {
			return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 1, 1}, Message: "no such user"}
		}
		return mb.Addr
	}
}

// refused returns an address nothing listens on.
func refused(t *testing.T) string { return actionstest.FreeAddr(t) }

// silent accepts connections and never says a word.
func silent(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func TestWireErrors(t *testing.T) {
	draft := json.RawMessage(`{"subject":"s","text":"t","default_to":true}`)
	_, err := email.Wire(nil, actions.Request{Destination: "mail", Body: draft})
	require.ErrorContains(t, err, `destination "mail" is not configured`)
	_, err = email.Wire(&email.Destination{Addr: "x:25"}, actions.Request{Body: draft})
	require.ErrorContains(t, err, "no from address")
	_, err = email.Wire(&email.Destination{Addr: "x:25", From: "a@example.com"}, actions.Request{Body: draft})
	require.ErrorContains(t, err, "no recipient")
	m, err := email.Wire(&email.Destination{Addr: "x:25", From: "a@example.com", To: []string{"b@example.com"}}, actions.Request{Body: draft, Key: "k\r\n1"})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(m.MessageID, "@example.com"))
	require.False(t, slices.ContainsFunc([]string{"\r", "\n", "k"}, func(s string) bool { return strings.Contains(m.MessageID, s) }))
}
