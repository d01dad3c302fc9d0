package yamlx_test

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

type inner struct {
	Level string `yaml:"level"`
}

type config struct {
	Name    string            `yaml:"name"`
	Enabled bool              `yaml:"enabled"`
	Count   int               `yaml:"count"`
	Timeout time.Duration     `yaml:"timeout"`
	Inner   inner             `yaml:"inner"`
	List    []string          `yaml:"list"`
	Map     map[string]string `yaml:"map"`
	Ptr     *inner            `yaml:"ptr"`
}

func decode(t *testing.T, src string) (config, []string) {
	t.Helper()
	doc, perr := yamlx.Parse([]byte(src))
	if perr != nil {
		return config{}, []string{perr.Error()}
	}
	var c config
	var msgs []string
	for _, e := range yamlx.Decode(doc, &c) {
		msgs = append(msgs, e.Error())
	}
	return c, msgs
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"valid", "name: a\nenabled: true\ncount: 3\ntimeout: 5s\ninner: {level: x}\nlist: [a, b]\nmap: {k: v}\nptr: {level: y}\n", nil},
		{"unknown field with suggestion", "nmae: a\n", []string{`1:1: unknown field "nmae" (did you mean "name"?)`}},
		{"unknown nested field", "inner:\n  levle: x\n", []string{`2:3: unknown field "levle" (did you mean "level"?)`}},
		{"unknown field far from any", "zzzzzz: 1\n", []string{`1:1: unknown field "zzzzzz"`}},
		{"duplicate key", "name: a\nname: b\n", []string{`2:1: field "name" already set at line 1`}},
		{"bool", "enabled: maybe\n", []string{`1:10: expected true or false, got "maybe"`}},
		{"int", "count: many\n", []string{`1:8: expected an integer, got "many"`}},
		{"duration", "timeout: soon\n", []string{`1:10: expected a duration such as 30s or 5m, got "soon"`}},
		{"string from a mapping", "name: {a: b}\n", []string{`1:7: expected a string, got a mapping`}},
		{"list from a scalar", "list: a\n", []string{`1:7: expected a list, got "a"`}},
		{"every error at once", "nmae: a\ncount: x\ninner: 3\n", []string{
			`1:1: unknown field "nmae" (did you mean "name"?)`, `2:8: expected an integer, got "x"`, `3:8: expected a mapping, got "3"`,
		}},
		{"syntax error", "name: [a\n", []string{"yaml syntax: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := decode(t, tt.src)
			require.Len(t, got, len(tt.want), "%v", got)
			for i := range tt.want {
				require.Contains(t, got[i], tt.want[i])
			}
		})
	}
}

// TestDecodeAliasBomb: aliases are followed within a node budget, so a
// billion-laughs document is an error, not an explosion.
func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [[], [], [], [], [], [], [], [], [], []]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("list: *a9\n")
	// Only list: is a known field; the anchors' own keys are reported as
	// unknown, and the alias expansion under list: hits the budget.
	doc, perr := yamlx.Parse([]byte(b.String()))
	require.Nil(t, perr)
	var v struct {
		List tree `yaml:"list"`
	}
	d := yamlx.Decoder{MaxNodes: 100_000}
	errs := d.Decode(doc, &v)
	require.NotEmpty(t, errs)
	require.LessOrEqual(t, len(errs), 201, "the problems reported are bounded")
	require.Contains(t, errs[len(errs)-1].Msg, "too large or too deeply aliased (over 100000 nodes)")
}

// tree is a list of lists of any depth: decoding it follows every alias.
type tree []tree

func TestSuggest(t *testing.T) {
	known := []string{"rules", "destinations", "tests"}
	require.Equal(t, "rules", diag.Suggest("rulez", known))
	require.Equal(t, "rules", diag.Suggest("rlues", known), "a transposition is one edit")
	require.Equal(t, "destinations", diag.Suggest("destination", known))
	require.Empty(t, diag.Suggest("schedule", known))
}

func TestErrorFormat(t *testing.T) {
	require.Equal(t, "rules.yaml:3:9: boom", (&diag.Error{File: "rules.yaml", Line: 3, Column: 9, Msg: "boom"}).Error())
	require.Equal(t, "boom", (&diag.Error{Msg: "boom"}).Error())
	var l diag.List
	require.NoError(t, l.Err())
	l.Add(&diag.Error{File: "b.yaml", Line: 1, Msg: "second"}, &diag.Error{File: "a.yaml", Line: 9, Msg: "first"})
	require.Equal(t, "a.yaml:9:1: first\nb.yaml:1:1: second", l.Err().Error())
}
