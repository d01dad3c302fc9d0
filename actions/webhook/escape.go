package webhook

import (
	"strings"
	"unicode"
)

// headerValue escapes a payload value for a header: one line (control
// characters, CR and LF included, become spaces) of valid UTF-8, so that
// multi-line payload text neither adds a header nor makes the request
// fail.
func headerValue(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
