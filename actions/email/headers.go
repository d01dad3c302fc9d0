package email

import (
	"encoding/base64"
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Headers that payload text cannot break: the subject and display names
// are one line each (headerText), bounded in length (a 60 KB value makes
// a header no server takes), written as RFC 2047 encoded words folded per
// RFC 5322 when they are not plain short ASCII, and encoded words found in
// payload text are encoded in turn, so that a reader shows them as typed
// instead of decoding them.

// MaxSubject is the longest subject, in bytes; a longer one is cut, ending
// with "…".
const MaxSubject = 2000

// MaxName is the longest display name, in bytes.
const MaxName = 200

// capText cuts s to at most n bytes at a character boundary, ending with
// "…" when it was cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// addressValue escapes a payload value inside an address template: one
// line, and an encoded word ("=?utf-8?b?...?=") it holds is kept as text,
// never decoded as a display name.
func addressValue(s string) string { return defuseEncodedWords(headerText(s)) }

// defuseEncodedWords puts a zero-width space inside every "=?", which
// starts an RFC 2047 encoded word: the text reads the same, and no longer
// decodes.
func defuseEncodedWords(s string) string { return strings.ReplaceAll(s, "=?", "=\u200b?") }

// parseNamed reads "Display Name <a@example.com>" whose display name is
// not a valid phrase (Smith, John; Sales: EU): the address is what the
// last <...> holds, the name everything before it, quoted on output.
func parseNamed(s string) (*mail.Address, error) {
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, '<')
	if i < 0 || !strings.HasSuffix(s, ">") {
		return nil, errors.New("not an address")
	}
	a, err := mail.ParseAddress(s[i+1 : len(s)-1])
	if err != nil || a.Name != "" {
		return nil, errors.New("not an address")
	}
	name := strings.TrimSpace(s[:i])
	if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
		name = strings.ReplaceAll(strings.ReplaceAll(name[1:len(name)-1], `\"`, `"`), `\\`, `\`)
	}
	// The name is text: an address in it ("<a@x> <b@y>") is shown, never
	// sent to.
	name = strings.NewReplacer("<", "‹", ">", "›").Replace(name)
	return &mail.Address{Name: name, Address: a.Address}, nil
}

// safeName bounds a display name and defuses the encoded words it holds.
func safeName(name string) string {
	return defuseEncodedWords(capText(headerText(name), MaxName))
}

// plainHeader reports whether s can be written as it is, for go-mail to
// fold at its spaces: printable ASCII, no encoded word, no word longer
// than fits on a line.
func plainHeader(s string) bool {
	if strings.Contains(s, "=?") {
		return false
	}
	for _, w := range strings.Split(s, " ") {
		if len(w) > 70 {
			return false
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// encodeHeader writes s as RFC 2047 encoded words (UTF-8, base64), each at
// most 75 characters and never splitting a character, folded onto lines
// of their own (CRLF and a space), as a header's whole value.
func encodeHeader(s string) string {
	const chunk = 45 // bytes: 60 in base64, 72 with the =?UTF-8?B? ?= frame
	var b strings.Builder
	for first := true; s != ""; first = false {
		n := min(chunk, len(s))
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		if !first {
			b.WriteString("\r\n ")
		}
		b.WriteString("=?UTF-8?B?")
		b.WriteString(base64.StdEncoding.EncodeToString([]byte(s[:n])))
		b.WriteString("?=")
		s = s[n:]
	}
	return b.String()
}
