package yamlx

import (
	"fmt"
	"strings"

	"github.com/switchboard-dev/switchboard/diag"
)

// The YAML parser reports a syntax error at the line where the construct
// it was reading started (the "context"), often a few lines before the
// mistake, and without a column. refineSyntax looks at the text from that
// line on for the usual mistakes and, when it finds one, reports it at its
// own line and column with a hint in words. It runs only on files that
// failed to parse, so it can afford to be a heuristic; when nothing fits,
// the parser's message stands.

// refineSyntax returns a better error for data than e, or e.
func refineSyntax(data []byte, e *diag.Error) *diag.Error {
	lines := strings.Split(string(data), "\n")
	from := max(e.Line, 1)
	tabs := strings.Contains(e.Msg, "tab character") || strings.Contains(e.Msg, "cannot start any token")
	inBlock := -1            // indentation of the key of a block scalar (| or >) being skipped
	var quote *diag.Error    // the first string not closed on its line
	var blankTab *diag.Error // the first line holding only blanks, a tab among them
	for i, line := range lines {
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if inBlock >= 0 {
			if strings.TrimSpace(line) == "" || indent > inBlock {
				continue
			}
			inBlock = -1
		}
		if i+1 < from {
			if v, _ := lineValue(line); strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
				inBlock = indent
			}
			continue
		}
		// A tab in the indentation: the parser reports the line before.
		if col := tabIndent(line); col > 0 && tabs {
			return &diag.Error{Line: i + 1, Column: col, Msg: "yaml syntax: a tab is used for indentation; YAML indents with spaces only"}
		}
		if col := strings.IndexByte(line, '\t'); tabs && blankTab == nil && col >= 0 && strings.TrimSpace(line) == "" {
			blankTab = &diag.Error{Line: i + 1, Column: col + 1, Msg: "yaml syntax: a tab on an otherwise blank line; YAML indents with spaces only: delete it"}
		}
		value, vcol := lineValue(line)
		if strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">") {
			inBlock = indent
			continue
		}
		// A value that starts with a character YAML reserves.
		if tabs && vcol > 0 && value != "" && strings.IndexByte("`@", value[0]) >= 0 {
			return &diag.Error{Line: i + 1, Column: vcol, Msg: fmt.Sprintf("yaml syntax: an unquoted value cannot start with %c; quote the whole value", value[0])}
		}
		if quote != nil {
			continue
		}
		// A quoted string not closed on its line.
		if col, q := unclosedQuote(line); col > 0 {
			quote = &diag.Error{Line: i + 1, Column: col, Msg: fmt.Sprintf("yaml syntax: the string that starts here has no closing %c on its line", q)}
			if !tabs {
				return quote
			}
			continue
		}
		// ": " inside a plain (unquoted) value.
		if strings.Contains(e.Msg, "mapping values are not allowed") && vcol > 0 && plainStart(value) {
			if at := strings.Index(value, ": "); at >= 0 {
				quoted := "'" + strings.ReplaceAll(strings.TrimSpace(stripComment(value)), "'", "''") + "'"
				if key := lineKey(line); key != "" {
					quoted = key + ": " + quoted
				}
				return &diag.Error{Line: i + 1, Column: vcol + at, Msg: "yaml syntax: \": \" inside an unquoted value starts a new key; quote the whole value: " + quoted}
			}
		}
	}
	if blankTab != nil {
		return blankTab
	}
	if quote != nil {
		return quote
	}
	return e
}

// tabIndent returns the 1-based column of a tab in line's indentation, or 0.
func tabIndent(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ':
		case '\t':
			if strings.TrimSpace(line) == "" {
				return 0
			}
			return i + 1
		default:
			return 0
		}
	}
	return 0
}

// lineValue returns the value part of a "key: value" or "- value" line
// and its 1-based column, or "" and 0.
func lineValue(line string) (string, int) {
	rest := strings.TrimLeft(line, " ")
	col := len(line) - len(rest) + 1
	for strings.HasPrefix(rest, "- ") {
		rest = rest[2:]
		col += 2
		trimmed := strings.TrimLeft(rest, " ")
		col += len(rest) - len(trimmed)
		rest = trimmed
	}
	if rest == "" || rest[0] == '#' || rest[0] == '"' || rest[0] == '\'' || rest[0] == '{' || rest[0] == '[' {
		return rest, col
	}
	k := strings.Index(rest, ": ")
	if k < 0 {
		return "", 0
	}
	v := rest[k+2:]
	trimmed := strings.TrimLeft(v, " ")
	return trimmed, col + k + 2 + len(v) - len(trimmed)
}

// lineKey returns the key of a "key: value" line, or "".
func lineKey(line string) string {
	rest := strings.TrimLeft(line, " -")
	k, _, ok := strings.Cut(rest, ": ")
	if !ok || strings.ContainsAny(k, "\"'{[ ") {
		return ""
	}
	return k
}

// plainStart reports whether value is a plain scalar (not quoted, not a
// flow collection, not a comment).
func plainStart(value string) bool {
	if value == "" {
		return false
	}
	switch value[0] {
	case '"', '\'', '{', '[', '#', '|', '>', '&', '*', '!':
		return false
	}
	return true
}

// stripComment removes a trailing " #..." comment from a plain value.
func stripComment(v string) string {
	if i := strings.Index(v, " #"); i >= 0 {
		return v[:i]
	}
	return v
}

// unclosedQuote returns the 1-based column and the quote character of a
// quoted scalar that starts on line and is not closed on it, or 0.
// Quotes inside plain scalars (it's) and comments are not quotes.
func unclosedQuote(line string) (int, byte) {
	var quote byte
	start := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quote != 0 {
			switch {
			case quote == '"' && c == '\\':
				i++
			case quote == '\'' && c == '\'' && i+1 < len(line) && line[i+1] == '\'':
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		prev := byte(' ')
		if i > 0 {
			prev = line[i-1]
		}
		switch {
		case c == '#' && (prev == ' ' || prev == '\t' || i == 0):
			return 0, 0
		case (c == '"' || c == '\'') && strings.IndexByte(" \t[{,:-", prev) >= 0 && quoteCanStart(line[:i]):
			quote, start = c, i
		case strings.IndexByte(" \t[{,]}", c) >= 0, (c == ':' || c == '-') && (i+1 == len(line) || line[i+1] == ' '):
		default:
			// Inside a plain scalar: skip to the end of it (": ", ", " in flow, or " #").
			for i+1 < len(line) {
				n := line[i+1]
				if (n == ':' && (i+2 >= len(line) || line[i+2] == ' ')) || n == ',' || n == '}' || n == ']' || (n == ' ' && i+2 < len(line) && line[i+2] == '#') {
					break
				}
				i++
			}
		}
	}
	if quote != 0 {
		return start + 1, quote
	}
	return 0, 0
}

// quoteCanStart reports whether a quote after before begins a scalar: at
// the start of a value, not in the middle of a plain one.
func quoteCanStart(before string) bool {
	t := strings.TrimRight(before, " \t")
	if t == "" {
		return true
	}
	switch t[len(t)-1] {
	case ':', '-', '[', '{', ',':
		return true
	}
	return false
}
