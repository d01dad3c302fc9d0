package email_test

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/email"
	"github.com/switchboard-dev/switchboard/internal/testsmtp"
)

// TestAnyPayloadTextMakesADeliverableMessage: payload text in the subject
// and in a display name (60 KB without a space, an encoded word, a comma
// or a colon, line breaks, invalid UTF-8) gives a message the real SMTP
// server takes, every header line within RFC 5322's 998 characters, the
// subject reading back as the text (cut at email.MaxSubject), the encoded
// word as typed (not decoded), and the one recipient the author wrote.
func TestAnyPayloadTextMakesADeliverableMessage(t *testing.T) {
	long := strings.Repeat("x", 60<<10)
	tests := []struct {
		name, text, wantSubject, wantName string
	}{
		{"60 KB without spaces", long, long[:email.MaxSubject-len("…")] + "…", long[:email.MaxName-len("…")] + "…"},
		{"encoded word", "=?utf-8?B?QWRtaW4=?=", "=?utf-8?B?QWRtaW4=?=", "=\u200b?utf-8?B?QWRtaW4=\u200b?="},
		{"comma", "Smith, John", "Smith, John", "Smith, John"},
		{"colon", "Sales: EU", "Sales: EU", "Sales: EU"},
		{"line breaks", "a\r\nBcc: evil@example.com\r\n\r\nbody", "a  Bcc: evil@example.com    body", "a  Bcc: evil@example.com    body"},
		{"invalid UTF-8", "bad \xff byte", "bad \uFFFD byte", "bad \uFFFD byte"},
		{"emoji and accents", "Café 👍 " + strings.Repeat("é", 300), "Café 👍 " + strings.Repeat("é", 300), capName("Café 👍 " + strings.Repeat("é", 300))},
		{"an address as the name", "<evil@example.com>", "<evil@example.com>", "‹evil@example.com›"},
	}
	mb := testsmtp.Start(t, "", "")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := actionstest.WithText(tt.text)
			_, r, s := setupMail(t, mb.Addr, `, tls: none`, `{destination: mail,
        to: ["{{ text }} <sales@example.com>"], subject: "{{ text }}", text: "{{ text }}"}`, p, actions.SenderOptions{})
			require.NoError(t, s.Send(context.Background(), r))
			got := mb.Wait(i+1, 10*time.Second)
			require.Len(t, got, i+1)
			m := got[i]
			require.Equal(t, []string{"sales@example.com"}, m.To)
			head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
			for _, line := range strings.Split(head, "\r\n") {
				require.LessOrEqual(t, len(line), 998, "header line too long")
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
			require.NoError(t, err)
			var dec mime.WordDecoder
			subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
			require.NoError(t, err)
			require.Equal(t, tt.wantSubject, subject)
			to, err := msg.Header.AddressList("To")
			require.NoError(t, err)
			require.Len(t, to, 1)
			require.Equal(t, "sales@example.com", to[0].Address)
			require.Equal(t, tt.wantName, to[0].Name)
			require.Empty(t, msg.Header.Get("Bcc"))
		})
	}
}

func capName(s string) string {
	n := email.MaxName - len("…")
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// TestHTMLIsEscapedByPlace: values in the html body are escaped as
// html/template does, by where they land: text, attributes, URLs limited
// to http, https and mailto (javascript: becomes #ZgotmplZ), scripts.
func TestHTMLIsEscapedByPlace(t *testing.T) {
	tests := []struct {
		template, text, want string
	}{
		{`<p>{{ text }}</p>`, `<script>alert(1)</script> & co`, `<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>`},
		{`<a href="{{ text }}">file</a>`, `javascript:alert(1)`, `<a href="#ZgotmplZ">file</a>`},
		{`<a href="{{ text }}">file</a>`, `JaVaScRiPt:alert(1)`, `<a href="#ZgotmplZ">file</a>`},
		{`<a href="{{ text }}">file</a>`, `data:text/html,<b>x</b>`, `<a href="#ZgotmplZ">file</a>`},
		{`<a href="{{ text }}">file</a>`, `https://files.example.com/a b.pdf?x=1&y="2"`, `<a href="https://files.example.com/a%20b.pdf?x=1&amp;y=%222%22">file</a>`},
		{`<a href="{{ text }}">mail</a>`, `mailto:a@example.com`, `<a href="mailto:a@example.com">mail</a>`},
		{`<a title={{ text }}>x</a>`, `a onmouseover=alert(1)`, `<a title=a&#32;onmouseover&#61;alert(1)>x</a>`},
		{`<p title="{{ text }}">x</p>`, `"><script>alert(1)</script>`, `<p title="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">x</p>`},
		{`<script>var t = {{ text }};</script>`, `"; alert(1); "`, `<script>var t = "\"; alert(1); \"";</script>`},
	}
	for _, tt := range tests {
		m, _ := renderOne(t, rulesWith(`{destination: mail, to: [a@example.com], subject: s, html: '`+tt.template+`'}`), actionstest.WithText(tt.text))
		require.Equal(t, tt.want, m.HTML, tt.template)
	}
}

// TestHTMLReachesTheServerEscaped: the escaped html is what the SMTP
// server gets, in its text/html part.
func TestHTMLReachesTheServerEscaped(t *testing.T) {
	mb := testsmtp.Start(t, "", "")
	_, r, s := setupMail(t, mb.Addr, `, tls: none`, `{destination: mail, subject: s, html: '<a href="{{ text }}">x</a>'}`,
		actionstest.WithText("javascript:alert(1)"), actions.SenderOptions{})
	require.NoError(t, s.Send(context.Background(), r))
	m := mb.Wait(1, 10*time.Second)[0]
	msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
	require.NoError(t, err)
	media, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	var body []byte
	if strings.HasPrefix(media, "multipart/") {
		part, err := multipart.NewReader(msg.Body, params["boundary"]).NextPart()
		require.NoError(t, err)
		body, _ = io.ReadAll(part) // NextPart decodes quoted-printable
	} else {
		var r io.Reader = msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(r)
		}
		body, _ = io.ReadAll(r)
	}
	require.Contains(t, string(body), `href="#ZgotmplZ"`)
	require.NotContains(t, string(body), "javascript:")
}
