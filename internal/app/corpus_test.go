package app_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/testsmtp"
)

// hostileCorpus are payload texts written to break outputs: mentions and
// links for Slack, CR/LF and encoded words for email headers, JSON and
// XML breakers, HTML, a 60 KB value without spaces, invalid UTF-8 (the
// "\xff" entries are written into the payload as raw bytes).
var hostileCorpus = []string{
	"<!channel> @here <!here> <@U024BE7LH> please look",
	"<https://evil.example|Your bank> and <mailto:a@evil.example|mail>",
	"a|b|c > d < e & f",
	"line1\r\nBcc: evil@example.com\r\n\r\nbody",
	"\nlevel=ERROR msg=\"forged log line\"",
	"=?utf-8?B?QWRtaW4=?= <admin@evil.example>",
	"Smith, John",
	"Sales: EU; \"quoted\" (comment)",
	`","admin":true,"x":"`,
	`quote " backslash \ slash / {"a":1}`,
	"</text><admin>true</admin><text>",
	`"/><admin x="`,
	"<script>alert(1)</script><img src=x onerror=alert(1)>",
	"javascript:alert(1)",
	"{{ 7*7 }} ${HOME} %s %n %!",
	"\u2028\u2029 nul \x00 bell \a",
	"emoji 👍 é ß 中文 \u200b",
	"bad \xff\xfe bytes",
	strings.Repeat("A", 60<<10),
}

// corpusKind is how the hostile corpus goes through one action kind: the
// destination and action it uses (the action puts {{ text }},
// {{ chat_title }} and {{ sender.wa_name }} in each of its text fields),
// and the check of what its real sink received.
type corpusKind struct {
	// name is the destination's name (dest its YAML), if the kind has one.
	name, dest, action string
	check              func(t *testing.T, c *corpusSinks, texts []string)
}

// corpusSinks are the real servers the corpus is delivered to.
type corpusSinks struct {
	http, slack *sink
	// api stands in for the APIs of telegram, teams, hubspot and sheets.
	api  *sink
	smtp *testsmtp.Server
	logs func() string
}

// corpusKinds has an entry for every kind of actions/builtin: a kind added
// there must add its own here (TestHostileCorpus fails until it does).
var corpusKinds = map[string]corpusKind{
	"http": {
		name: "out", dest: `{kind: http, url: "%HTTP%/in"}`,
		action: `
      - http: {destination: out, url: "/json/{{ message.id }}", query: {q: "{{ text }}"}, headers: {X-Chat: "{{ chat_title }}"},
               body: {text: "{{ text }}", chat: "{{ chat_title }}", name: "from {{ sender.wa_name }}"}}
      - http: {destination: out, url: "/xml", content_type: application/xml, raw_body: "<m a=\"{{ sender.wa_name }}\"><text>{{ text }}</text></m>"}
      - http: {destination: out, url: "/ndjson", content_type: application/x-ndjson, raw_body: "{\"text\": \"{{ text }}\"}\n{\"chat\": \"{{ chat_title }}\"}\n"}
      - http: {destination: out, url: "/form", content_type: application/x-www-form-urlencoded, raw_body: "text={{ text }}&v=1"}`,
		check: func(t *testing.T, c *corpusSinks, texts []string) {
			by := map[string][]received{}
			for _, r := range c.http.requests() {
				p, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/in/"), "/")
				p, _, _ = strings.Cut(p, "?")
				by[p] = append(by[p], r)
			}
			var got []string
			for _, r := range by["json"] {
				var body map[string]string
				require.NoError(t, json.Unmarshal([]byte(r.Body), &body), "json body")
				require.Len(t, body, 3, "exactly the fields written: %v", body)
				require.Equal(t, body["text"], body["chat"])
				require.Equal(t, "from "+body["text"], body["name"])
				got = append(got, body["text"])
				u, err := url.Parse(r.Path)
				require.NoError(t, err)
				require.Equal(t, []string{body["text"]}, u.Query()["q"], "the query holds the value, whole")
				require.Len(t, u.Query(), 1)
				require.NotContains(t, r.Header, "Bcc")
				require.Equal(t, strings.Trim(oneLine(body["text"]), " \t"), r.Header.Get("X-Chat"), "one line, whole (HTTP trims the spaces around a value)")
			}
			requireSameTexts(t, texts, got, "http json")
			got = got[:0]
			for _, r := range by["xml"] {
				var m struct {
					A    string   `xml:"a,attr"`
					Text string   `xml:"text"`
					Any  []string `xml:",any"`
				}
				require.NoError(t, xml.Unmarshal([]byte(r.Body), &m), "xml body")
				require.Empty(t, m.Any, "no element added")
				got = append(got, m.Text)
			}
			requireSameTexts(t, xmlTexts(texts), got, "http xml")
			got = got[:0]
			for _, r := range by["ndjson"] {
				lines := strings.Split(strings.TrimSuffix(r.Body, "\n"), "\n")
				require.Len(t, lines, 2, "ndjson lines")
				var first map[string]string
				require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
				require.Len(t, first, 1)
				got = append(got, first["text"])
			}
			requireSameTexts(t, texts, got, "http ndjson")
			got = got[:0]
			for _, r := range by["form"] {
				q, err := url.ParseQuery(r.Body)
				require.NoError(t, err)
				require.Len(t, q, 2, "form fields")
				require.Equal(t, []string{"1"}, q["v"])
				got = append(got, q.Get("text"))
			}
			requireSameTexts(t, texts, got, "http form")
		},
	},
	"slack": {
		name: "team", dest: `{kind: slack, webhook_url: "%SLACK%/services/T/B/x", rate: none}`,
		action: `
      - slack: {destination: team, text: "New from {{ sender.wa_name }}: {{ text }} <https://crm.example.com/c/{{ text }}|open {{ chat_title }}>"}`,
		check: func(t *testing.T, c *corpusSinks, texts []string) {
			reqs := c.slack.requests()
			require.Len(t, reqs, len(texts))
			for _, r := range reqs {
				var m struct{ Text string }
				require.NoError(t, json.Unmarshal([]byte(r.Body), &m))
				require.Equal(t, 1, strings.Count(m.Text, "<"), "only the author's link: %.200q", m.Text)
				require.Equal(t, 1, strings.Count(m.Text, ">"), "only the author's link")
				link := m.Text[strings.Index(m.Text, "<"):]
				url, _, ok := strings.Cut(link, "|")
				require.True(t, ok)
				require.NotContains(t, url, " ", "the URL is one piece")
				require.True(t, strings.HasPrefix(url, "<https://crm.example.com/c/"))
			}
		},
	},
	"email": {
		name: "mail", dest: `{kind: email, smtp: "%SMTP%", tls: none, from: "Switchboard <bot@example.com>"}`,
		action: `
      - email: {destination: mail, to: ["{{ sender.wa_name }} <sales@example.com>"], reply_to: "{{ chat_title }} <reply@example.com>",
                subject: "From {{ sender.wa_name }}: {{ text }}", text: "{{ text }}",
                html: "<p title=\"{{ chat_title }}\">{{ text }}</p><a href=\"{{ text }}\">link</a>"}`,
		check: func(t *testing.T, c *corpusSinks, texts []string) {
			msgs := c.smtp.Messages()
			require.Len(t, msgs, len(texts))
			var got []string
			for _, m := range msgs {
				require.Equal(t, []string{"sales@example.com"}, m.To, "the envelope has the author's recipient only")
				head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
				for _, line := range strings.Split(head, "\r\n") {
					require.LessOrEqual(t, len(line), 998)
				}
				msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
				require.NoError(t, err)
				for _, h := range []string{"Bcc", "Cc"} {
					require.Empty(t, msg.Header.Get(h))
				}
				to, err := msg.Header.AddressList("To")
				require.NoError(t, err)
				require.Len(t, to, 1)
				require.Equal(t, "sales@example.com", to[0].Address)
				rt, err := msg.Header.AddressList("Reply-To")
				require.NoError(t, err)
				require.Len(t, rt, 1)
				require.Equal(t, "reply@example.com", rt[0].Address)
				var dec mime.WordDecoder
				subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
				require.NoError(t, err)
				require.True(t, strings.HasPrefix(subject, "From "), subject)
				got = append(got, subject)
			}
			require.Len(t, got, len(texts))
		},
	},
	"telegram": {
		name: "tg", dest: `{kind: telegram, token: "123456:corpus-token", chat_id: "42", api_url: "%API%", chat_rate: none, rate: none}`,
		action: `
      - telegram: {destination: tg, text: "{{ sender.wa_name }}: {{ text }}"}`,
		check: apiCheck("/bot", func(body map[string]any) string { s, _ := body["text"].(string); return s }),
	},
	"teams": {
		name: "ms", dest: `{kind: teams, webhook_url: "%API%/workflows/x/triggers/manual/paths/invoke?sig=corpus", rate: none}`,
		action: `
      - teams: {destination: ms, title: "{{ chat_title }}", text: "{{ text }}", facts: [{title: From, value: "{{ sender.wa_name }}"}]}`,
		check: apiCheck("/workflows/", nil),
	},
	"hubspot": {
		name: "hs", dest: `{kind: hubspot, token: "pat-corpus-token", api_url: "%API%", rate: none}`,
		action: `
      - hubspot: {destination: hs, do: upsert_contact, phone: "{{ sender.phone }}", properties: {firstname: "{{ sender.wa_name }}", message: "{{ text }}"}}`,
		check: apiCheck("/crm/v3/objects/contacts", nil),
	},
	"sheets": {
		name: "sh", dest: `{kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: "A:C", api_url: "%API%", rate: none}`,
		action: `
      - sheets: {destination: sh, cells: ["{{ text }}", "{{ chat_title }}", "{{ sender.wa_name }}"]}`,
		check: apiCheck("/v4/spreadsheets/", nil),
	},
	"log": {
		action: `
      - log: {message: "corpus-log {{ text }}", fields: {chat: "{{ chat_title }}"}}`,
		check: func(t *testing.T, c *corpusSinks, texts []string) {
			n := 0
			for _, line := range strings.Split(c.logs(), "\n") {
				require.False(t, strings.HasPrefix(line, "level=ERROR msg=\"forged"), "a forged log line")
				if strings.Contains(line, `msg="corpus-log `) {
					n++
				}
			}
			require.Equal(t, len(texts), n, "one log line per action")
		},
	},
}

// TestHostileCorpus: every hostile text, as a message's text, its chat's
// title and its sender's name, goes through every action kind of the
// registry to real sinks (HTTP, a Slack-like HTTP server, SMTP): every
// delivery arrives (0 dead letters caused by payload text) and none is
// injected into (each output parses as its type with exactly the fields,
// elements, recipients and links the author wrote).
func TestHostileCorpus(t *testing.T) {
	kinds := builtin.Kinds()
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
		if _, ok := corpusKinds[k]; !ok {
			t.Errorf("action kind %q has no entry in corpusKinds: add how the hostile corpus goes through it", k)
		}
	}
	sort.Strings(names)
	c := &corpusSinks{http: newSink(t, nil), slack: newSink(t, nil), api: newAPISink(t), smtp: testsmtp.Start(t, "", "")}
	saKey := serviceAccountKey(t, c.api.URL)
	var dests, acts strings.Builder
	for _, k := range names {
		ck, ok := corpusKinds[k]
		if !ok {
			continue
		}
		if ck.dest != "" {
			d := strings.NewReplacer("%HTTP%", c.http.URL, "%SLACK%", c.slack.URL, "%SMTP%", c.smtp.Addr, "%API%", c.api.URL).Replace(ck.dest)
			fmt.Fprintf(&dests, "  %s: %s\n", ck.name, d)
		}
		acts.WriteString(ck.action)
	}
	rules := "destinations:\n" + dests.String() + "rules:\n  - name: corpus\n    when: direction == \"received\"\n    actions:" + acts.String() + "\n"
	svc := start(t, rules, func(cfg *app.Config) {
		cfg.LookupEnv = func(k string) (string, bool) { return saKey, k == "SA_KEY" }
	})
	c.logs = svc.logs.String

	var texts []string
	for i, s := range hostileCorpus {
		body, err := json.Marshal(map[string]any{
			"direction": "received", "chat_id": "447441369136@c.us", "chat_title": "\x01PLACEHOLDER\x01",
			"message": map[string]any{"id": fmt.Sprintf("CORPUS%03d", i), "type": "chat", "text": "\x01PLACEHOLDER\x01"},
			"sender":  map[string]any{"phone": "447441369136", "wa_name": "\x01PLACEHOLDER\x01"},
		})
		require.NoError(t, err)
		enc, err := json.Marshal(s)
		require.NoError(t, err)
		if strings.Contains(s, "\xff") {
			enc = []byte(`"` + s + `"`) // raw invalid bytes, as a broken client would send them
		}
		body = bytes.ReplaceAll(body, []byte(`"\u0001PLACEHOLDER\u0001"`), enc)
		status, _ := svc.post(t, body)
		require.Equal(t, http.StatusAccepted, status, "payload %d", i)
		texts = append(texts, string([]rune(s))) // each invalid byte a U+FFFD, as JSON decodes it
	}
	// Every action of every event delivered (or logged).
	waitFor(t, func() bool {
		st := svc.status(t)
		n := int64(len(hostileCorpus))
		return st.Queue.Events == n && st.Queue.Cursor == n && st.Queue.Pending == 0
	})
	st := svc.status(t)
	if st.Queue.Dead > 0 {
		var ds []struct {
			LastError string `json:"last_error"`
		}
		svc.api(t, http.MethodGet, "/api/deliveries?state=dead", &ds)
		for _, d := range ds {
			t.Errorf("dead letter: %.300s", d.LastError)
		}
	}
	require.Zero(t, st.Queue.Dead, "dead letters caused by payload text")
	for _, k := range names {
		if ck, ok := corpusKinds[k]; ok {
			t.Run(k, func(t *testing.T) { ck.check(t, c, texts) })
		}
	}
}

// requireSameTexts compares the texts a sink got (in any order) with those
// sent.
func requireSameTexts(t *testing.T, want, got []string, what string) {
	t.Helper()
	w, g := append([]string(nil), want...), append([]string(nil), got...)
	sort.Strings(w)
	sort.Strings(g)
	require.Equal(t, len(w), len(g), what)
	for i := range w {
		require.Equal(t, w[i], g[i], "%s: a text arrived changed", what)
	}
}

// oneLine is a header value as the http kind writes payload text: control
// characters as spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// xmlTexts are texts as XML carries them: control characters other than
// tab and line breaks as U+FFFD, line breaks normalised to LF.
func xmlTexts(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				return '\uFFFD'
			}
			return r
		}, s)
		out[i] = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	}
	return out
}

// newAPISink is a loopback stand-in for the APIs of the kinds that call
// one (built from their public docs): a token for /token, no match for a
// search, success otherwise; it records every request.
func newAPISink(t *testing.T) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, received{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/token"):
			fmt.Fprint(w, `{"access_token":"ya29.corpus","expires_in":3600,"token_type":"Bearer"}`)
		case strings.HasSuffix(r.URL.Path, "/search"):
			fmt.Fprint(w, `{"total":0,"results":[]}`)
		default:
			fmt.Fprint(w, `{"ok":true,"result":{"message_id":1},"id":"1","updates":{"updatedRows":1}}`)
		}
	}))
	t.Cleanup(s.Server.Close)
	return s
}

// apiCheck checks what an API kind sent (requests whose path starts with
// prefix): at least one request per text, each body JSON with no field a
// payload text added (`","admin":true,"x":"`), and, with text set, the
// texts arriving whole.
func apiCheck(prefix string, text func(body map[string]any) string) func(t *testing.T, c *corpusSinks, texts []string) {
	return func(t *testing.T, c *corpusSinks, texts []string) {
		n := 0
		for _, r := range c.api.requests() {
			if !strings.HasPrefix(r.Path, prefix) {
				continue
			}
			n++
			if r.Body == "" {
				continue
			}
			var body map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.Body), &body), "%s: the body is JSON: %.300s", prefix, r.Body)
			require.NotContains(t, body, "admin", "a field added by payload text")
			require.NotContains(t, r.Header, "X-Injected")
			if text != nil {
				require.NotEmpty(t, text(body))
			}
		}
		require.GreaterOrEqual(t, n, len(texts), "%s: one request per message at least", prefix)
	}
}

// serviceAccountKey is a Google service account JSON key whose token_uri
// is base's /token.
func serviceAccountKey(t *testing.T, base string) string {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{
		"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com", "token_uri": base + "/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "private_key_id": "corpus-key",
	})
	require.NoError(t, err)
	return string(key)
}
