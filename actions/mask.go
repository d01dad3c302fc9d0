package actions

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Masked is what a secret is replaced with in any output.
const Masked = "***"

// MaskWord replaces with *** the occurrences of secret w in s that no
// letter or digit adjoins, so that a short secret "x" is hidden in
// `got "x"` while the word "text" stays whole. It is the one rule for
// short secrets, used by the loader's errors and the kinds' scrubbing of
// answers.
func MaskWord(s, w string) string {
	if w == "" {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, w)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(w)
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[end:])
		b.WriteString(s[:i])
		if (i == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after)) {
			b.WriteString(Masked)
		} else {
			b.WriteString(w)
		}
		s = s[end:]
	}
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
