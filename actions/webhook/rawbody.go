package webhook

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
)

// rawSyntax is how a raw_body of a content type is escaped and checked.
type rawSyntax int

const (
	// rawUnknown: a type whose syntax is not known (text/csv, text/html):
	// templates are refused unless the action says escape: none.
	rawUnknown rawSyntax = iota
	rawText              // text/plain: no syntax to break
	rawJSON              // application/json, +json, text/json
	rawNDJSON            // one JSON value a line
	rawXML               // application/xml, text/xml, +xml
	rawForm              // application/x-www-form-urlencoded
	rawNone              // escape: none: the author's responsibility
)

// syntaxOf classifies a media type (already parsed, lower case).
func syntaxOf(media string) rawSyntax {
	switch {
	case media == "application/x-ndjson" || media == "application/ndjson" || media == "application/jsonl" ||
		media == "application/x-jsonlines" || media == "application/jsonlines":
		return rawNDJSON
	case media == "application/json" || media == "text/json" || media == "text/x-json" ||
		media == "application/x-json" || strings.HasSuffix(media, "+json"):
		return rawJSON
	case media == "application/xml" || media == "text/xml" || strings.HasSuffix(media, "+xml"):
		return rawXML
	case media == "application/x-www-form-urlencoded":
		return rawForm
	case media == "text/plain":
		return rawText
	}
	return rawUnknown
}

// escaper returns the Escaper of the values taken from the event.
func (s rawSyntax) escaper() actions.Escaper {
	switch s {
	case rawJSON, rawNDJSON:
		return jsonStringEscape
	case rawXML:
		return xmlEscape
	case rawForm:
		return url.QueryEscape
	case rawText:
		return validUTF8
	}
	return nil
}

// check checks a rendered body of the syntax: escaping keeps the values
// from breaking it, so a body that does not parse is the template's fault.
func (s rawSyntax) check(body string) error {
	switch s {
	case rawJSON:
		if !json.Valid([]byte(body)) {
			return errors.New("raw_body is not valid JSON once rendered; build JSON with body: instead")
		}
	case rawNDJSON:
		for i, line := range strings.Split(body, "\n") {
			if line = strings.TrimSpace(line); line != "" && !json.Valid([]byte(line)) {
				return fmt.Errorf("raw_body line %d is not valid JSON once rendered (one JSON value a line)", i+1)
			}
		}
	case rawXML:
		d := xml.NewDecoder(strings.NewReader(body))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("raw_body is not well-formed XML once rendered: %v", err)
			}
		}
	}
	return nil
}

// xmlEscape escapes a value for XML text or an attribute value (quoted
// either way): the five special characters become entities, and what XML
// 1.0 cannot hold (control characters other than tab, line feed and
// carriage return; invalid UTF-8) becomes U+FFFD.
func xmlEscape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t', r == '\n', r == '\r':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1, r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// validUTF8 replaces invalid UTF-8 with U+FFFD.
func validUTF8(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// rawBodyFor picks the escaping of a raw_body for its media type, or
// explains why its templates are refused: payload text could break a body
// of a syntax the sender does not know, so it must be told escape: none.
func rawBodyFor(media, escape string, t actions.Template) (rawSyntax, string) {
	switch escape {
	case "":
	case "none":
		return rawNone, ""
	default:
		return rawUnknown, fmt.Sprintf("escape: expected none (values inserted as they are) or no escape: at all, got %q", escape)
	}
	s := syntaxOf(media)
	if s == rawUnknown && t.Set() && !t.Text.Static() {
		return s, fmt.Sprintf("raw_body: values from the payload cannot be escaped for %s (JSON, NDJSON, XML, form and plain text can); "+
			"use body: for JSON, or say escape: none to insert them as they are", media)
	}
	return s, ""
}
