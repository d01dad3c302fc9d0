package webhook_test

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// TestRawBodyEscapesByContentType: a raw_body's values are escaped for its
// content type, JSON-like ones (+json, NDJSON, text/json) and XML
// included, so that `","admin":true,"x":"` or `</name><admin>` stays one
// value; the result parses as that type with exactly the fields written.
func TestRawBodyEscapesByContentType(t *testing.T) {
	jsonOne := func(t *testing.T, body, text string) {
		var got map[string]string
		require.NoError(t, json.Unmarshal([]byte(body), &got), body)
		require.Equal(t, map[string]string{"text": text}, got, "exactly one field")
	}
	tests := []struct {
		name, contentType, rawBody string
		check                      func(t *testing.T, body, text string)
	}{
		{"application/json", "application/json", `{"text": "{{ text }}"}`, jsonOne},
		{"+json", "application/vnd.crm+json; charset=utf-8", `{"text": "{{ text }}"}`, jsonOne},
		{"text/json", "text/json", `{"text": "{{ text }}"}`, jsonOne},
		{"ndjson", "application/x-ndjson", "{\"text\": \"{{ text }}\"}\n{\"text\": \"{{ text }}\"}\n", func(t *testing.T, body, text string) {
			lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
			require.Len(t, lines, 2, "a line break in the value does not add a line: %q", body)
			for _, l := range lines {
				jsonOne(t, l, text)
			}
		}},
		{"xml", "application/xml", `<note a="{{ text }}"><text>{{ text }}</text></note>`, func(t *testing.T, body, text string) {
			var n struct {
				A    string   `xml:"a,attr"`
				Text string   `xml:"text"`
				More []string `xml:",any"`
			}
			require.NoError(t, xml.Unmarshal([]byte(body), &n), body)
			require.Empty(t, n.More, "no element added")
			want := xmlVisible(text)
			require.Equal(t, want, n.Text)
			d := xml.NewDecoder(strings.NewReader(body))
			for {
				_, err := d.Token()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
		}},
		{"form", "application/x-www-form-urlencoded", "text={{ text }}&v=1", func(t *testing.T, body, text string) {
			require.True(t, strings.HasSuffix(body, "&v=1"))
			require.Equal(t, 1, strings.Count(body, "&"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, text := range append(hostile, `</text><admin>true</admin><text>`, `"/><admin x="`, "\"\n{\"admin\":true}\n\"") {
				raw, err := json.Marshal(tt.rawBody) // a JSON string is a YAML double-quoted one
				require.NoError(t, err)
				req := renderOne(t, rulesWith(`{destination: crm, content_type: "`+tt.contentType+`", raw_body: `+string(raw)+`}`), actionstest.WithText(text))
				tt.check(t, req.Body, text)
			}
		})
	}
}

// xmlVisible is text as XML 1.0 can hold it: control characters other
// than tab and line breaks become U+FFFD; a parser reads CR LF as LF.
func xmlVisible(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return '\uFFFD'
		}
		return r
	}, s)
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// TestRawBodyRefusesTypesItCannotEscape: a templated raw_body of a type
// whose syntax is unknown (CSV, HTML) is refused at load, with its
// position, unless the action says escape: none; a static one is fine.
func TestRawBodyRefusesTypesItCannotEscape(t *testing.T) {
	actionstest.RequireLoadError(t, rulesWith(`{destination: crm, content_type: text/csv, raw_body: "a,{{ text }}"}`), testEnv,
		`rules.yaml:7:68: raw_body: values from the payload cannot be escaped for text/csv (JSON, NDJSON, XML, form and plain text can); use body: for JSON, or say escape: none to insert them as they are`)
	actionstest.RequireLoadError(t, rulesWith(`{destination: crm, content_type: text/csv, raw_body: "a,{{ text }}", escape: json}`), testEnv,
		`escape: expected none (values inserted as they are) or no escape: at all, got "json"`)
	actionstest.RequireLoadError(t, rulesWith(`{destination: crm, body: {a: 1}, escape: none}`), testEnv,
		`escape: applies to raw_body only`)

	req := renderOne(t, rulesWith(`{destination: crm, content_type: text/csv, raw_body: "a,{{ text }}", escape: none}`), actionstest.WithText(`x","y`))
	require.Equal(t, `a,x","y`, req.Body, "escape: none inserts values as they are")
	req = renderOne(t, rulesWith(`{destination: crm, content_type: text/csv, raw_body: "a,b"}`), actionstest.WithText("x"))
	require.Equal(t, "a,b", req.Body)
}

// TestRawBodyXMLThatDoesNotParseIsAnError: escaping keeps values from
// breaking XML, so a body that is not well-formed is the template's.
func TestRawBodyXMLThatDoesNotParseIsAnError(t *testing.T) {
	rs := render(t, rulesWith(`{destination: crm, content_type: text/xml, raw_body: "<a>{{ text }}</b>"}`), actionstest.WithText("hi"))
	require.ErrorContains(t, rs[0].Err, "raw_body is not well-formed XML once rendered")
}
