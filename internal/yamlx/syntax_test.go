package yamlx_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// TestSyntaxErrorsAtTheMistake: the parser reports where the construct it
// was reading started; Parse reports the mistake itself.
func TestSyntaxErrorsAtTheMistake(t *testing.T) {
	example, err := os.ReadFile("../../rules.example.yaml")
	require.NoError(t, err)
	lines := strings.Split(string(example), "\n")
	// with replaces line n (1-based) of the example.
	with := func(n int, line string) string {
		out := append([]string(nil), lines...)
		out[n-1] = line
		return strings.Join(out, "\n")
	}
	find := func(prefix string) int {
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return i + 1
			}
		}
		t.Fatalf("no line %q in the example", prefix)
		return 0
	}
	when := find("when: direction == \"received\"")
	indent := strings.Index(lines[when-1], "when:")
	tests := []struct {
		name, src string
		line, col int
		msg       string
	}{
		{"tab before a key", with(when, "\t"+strings.TrimLeft(lines[when-1], " ")), when, 1, "a tab is used for indentation"},
		{"tab after spaces", with(when, "  \t"+strings.TrimLeft(lines[when-1], " ")), when, 3, "a tab is used for indentation"},
		{"missing closing quote", with(when, strings.Repeat(" ", indent)+`when: "direction == 'received'`), when, indent + 7, `has no closing " on its line`},
		{"colon in a plain condition", with(when, strings.Repeat(" ", indent)+`when: text == "a: b"`), when, indent + 17, `quote the whole value: when: 'text == "a: b"'`},
		{"backtick value", with(when, strings.Repeat(" ", indent)+"when: `direction`"), when, indent + 7, "cannot start with `; quote"},
		{"unclosed flow list", "rules:\n  - name: a\n    actions: [\n      - log: {message: x}\n", 3, 1, "did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, perr := yamlx.Parse([]byte(tt.src))
			require.NotNil(t, perr)
			require.Equal(t, tt.line, perr.Line, perr.Error())
			require.Equal(t, tt.col, perr.Column, perr.Error())
			require.Contains(t, perr.Msg, tt.msg)
		})
	}
}

// TestTabInABlockScalarIsContent: a tab inside a block scalar's content is
// text, not indentation; the mistake elsewhere is reported.
func TestTabInABlockScalarIsContent(t *testing.T) {
	_, perr := yamlx.Parse([]byte("a:\n  b: |\n    x\n    \ty\n  c: `z`\n"))
	require.NotNil(t, perr)
	require.Equal(t, "5:6: yaml syntax: an unquoted value cannot start with `; quote the whole value", perr.Error())
}

// TestSyntaxRefinementKeepsValidQuotes: quotes in block scalars, in plain
// values (it's) and in comments are not taken for unclosed strings.
func TestSyntaxRefinementKeepsValidQuotes(t *testing.T) {
	src := "a: |\n  he said \"hi\n  it's\nb: it's fine # don't\nc: [x, \"y\"]\nd: {e: 'f''s'}\ng: - bad\n"
	_, perr := yamlx.Parse([]byte(src))
	require.NotNil(t, perr)
	require.NotContains(t, perr.Msg, "no closing")
}
