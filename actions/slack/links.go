package slack

import (
	"strings"
)

// Values taken from the payload are escaped by where they land in the
// message: everywhere, Slack's control characters (& < >) become entities
// (see Escape); inside the URL of a link the author wrote, <{{ url }}|label>,
// a | (which would end the URL and start the label) and spaces are
// percent-encoded too, so that a value cannot split the link. The template
// is rendered with each value marked (mark), and the marks are resolved by
// their place (unmark).

const (
	holeStart = '\uE000'
	holeEnd   = '\uE001'
)

var stripMarks = strings.NewReplacer(string(holeStart), "", string(holeEnd), "")

// mark escapes a value and marks it as a value, for unmark. Marks in the
// payload text itself are dropped.
func mark(s string) string {
	return string(holeStart) + Escape(stripMarks.Replace(s)) + string(holeEnd)
}

// unmark resolves the marked values of a rendered text by their place and
// removes the marks.
func unmark(s string) string {
	if !strings.ContainsRune(s, holeStart) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	inLink, inURL, inValue := false, false, false
	for _, r := range s {
		switch {
		case r == holeStart:
			inValue = true
		case r == holeEnd:
			inValue = false
		case inValue && inLink && inURL && r == '|':
			b.WriteString("%7C")
		case inValue && inLink && inURL && (r == ' ' || r == '\n' || r == '\t' || r == '\r'):
			b.WriteString("%20")
		case inValue:
			b.WriteRune(r)
		default:
			switch r {
			case '<':
				inLink, inURL = true, true
			case '|':
				inURL = false
			case '>':
				inLink, inURL = false, false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unmarkTree resolves the marks in every string of a rendered value
// (blocks).
func unmarkTree(v any) any {
	switch x := v.(type) {
	case string:
		return unmark(x)
	case map[string]any:
		for k, e := range x {
			x[k] = unmarkTree(e)
		}
	case []any:
		for i, e := range x {
			x[i] = unmarkTree(e)
		}
	}
	return v
}
