package actions

import "strings"

// NormalizePhone reduces a phone number or WhatsApp id to its digits, so
// that "+44 7441 369136", "0044 7441369136" and "447441369136@c.us" compare
// equal. The engine's phone() and kinds that look contacts up by phone
// (hubspot) share it.
func NormalizePhone(s string) string {
	s, _, _ = strings.Cut(s, "@")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return strings.TrimPrefix(b.String(), "00")
}
