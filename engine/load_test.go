package engine_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// noEnv resolves no environment variable: tests never depend on the
// machine's environment.
func noEnv(string) (string, bool) { return "", false }

func opts() engine.Options { return engine.Options{Kinds: builtin.Kinds(), LookupEnv: noEnv} }

func load(t *testing.T, src string) *engine.RuleSet {
	t.Helper()
	rs, err := engine.Load(opts(), engine.Source{Name: "rules.yaml", Data: []byte(src)})
	require.NoError(t, err)
	return rs
}

func loadErr(t *testing.T, src string) string {
	t.Helper()
	_, err := engine.Load(opts(), engine.Source{Name: "rules.yaml", Data: []byte(src)})
	require.Error(t, err)
	return err.Error()
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./engine -update")
	require.Equal(t, string(want), got)
}

// TestLoadBadRules loads every broken rules file in testdata/bad and
// compares the whole error report with its golden file: each problem must
// be reported at its line and column.
func TestLoadBadRules(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rs, err := engine.LoadFiles(opts(), f)
			require.Nil(t, rs)
			require.Error(t, err)
			golden(t, strings.TrimSuffix(f, ".yaml")[len("testdata/"):]+".golden", err.Error()+"\n")
		})
	}
}

func TestLoadExample(t *testing.T) {
	rs, err := engine.LoadFiles(opts(), "../rules.example.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, rs.Rules)
	require.NotEmpty(t, rs.Tests)
	require.Empty(t, rs.Warnings)
	for _, res := range rs.RunTests() {
		require.True(t, res.Passed(), "%s: %v", res.Case.Name, res.Failures)
	}
}

func TestLoadErrorsCarryPositions(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unknown top-level key", "rulez: []\n", `rules.yaml:1:1: unknown field "rulez" (did you mean "rules"?)`},
		{"rule without when", "rules:\n  - name: a\n    actions: [{log: {message: x}}]\n", `rules.yaml:2:5: rule "a" has no condition`},
		{"rule without actions", "rules:\n  - name: a\n    when: true\n", `rules.yaml:2:5: rule "a" has no actions`},
		{"enabled not a bool", "rules:\n  - name: a\n    when: true\n    enabled: maybe\n    actions: [{log: {message: x}}]\n", `rules.yaml:4:14: expected true or false, got "maybe"`},
		{"unknown kind", "rules:\n  - name: a\n    when: true\n    actions: [{sms: {}}]\n", `rules.yaml:4:16: unknown action kind "sms"`},
		{"unknown destination", "rules:\n  - name: a\n    when: true\n    actions: [{slack: {destination: team, text: x}}]\n", `rules.yaml:4:37: unknown destination "team"`},
		{"expression too long", "rules:\n  - name: a\n    when: " + strings.Repeat("true && ", 3000) + "true\n    actions: [{log: {message: x}}]\n", `rules.yaml:3:11: `},
		{"huge expression", "rules:\n  - name: a\n    when: \"" + strings.Repeat("!", 2500) + "true\"\n    actions: [{log: {message: x}}]\n", `compilation failed: expression exceeds maximum allowed nodes`},
		{"deeply nested expression", "rules:\n  - name: a\n    when: \"" + strings.Repeat("(", 9000) + "true" + strings.Repeat(")", 9000) + "\"\n    actions: [{log: {message: x}}]\n", `rules.yaml:3:12: expression is 18004 bytes long; the limit is 16384`},
		{"action with a name and no kind", "rules:\n  - name: a\n    when: true\n    actions:\n      - name: y\n", `rules.yaml:5:9: action "y" has no kind: write its kind beside its name, such as ` + "`slack: {...}`"},
		{"action with two kinds", "rules:\n  - name: a\n    when: true\n    actions:\n      - name: x\n        log: {message: a}\n        slack: {text: b}\n", "rules.yaml:5:9: expected an action such as `- slack: {...}`, a mapping with one key naming its kind ("},
		{"unclosed template", "rules:\n  - name: a\n    when: true\n    actions: [{log: {message: \"hi {{ text\"}}]\n", `rules.yaml:4:35: template: "{{" is never closed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, loadErr(t, tt.src), tt.want)
		})
	}
}

func TestEnvSecretsAreResolvedAndRedacted(t *testing.T) {
	o := opts()
	o.LookupEnv = func(k string) (string, bool) {
		if k == "TOKEN" {
			return "s3cr3t-value", true
		}
		return "", false
	}
	src := `
destinations:
  crm: {kind: http, url: "https://crm.example.com/api", headers: {Authorization: "Bearer ${TOKEN}"}}
rules:
  - name: a
    when: true
    actions: [{http: {destination: crm, url: "/x"}}]
`
	rs, err := engine.Load(o, engine.Source{Name: "r.yaml", Data: []byte(src)})
	require.NoError(t, err)
	ev, err := engine.Decode([]byte(`{"direction":"received"}`))
	require.NoError(t, err)
	plan, err := rs.Plan(ev, engine.PlanOptions{})
	require.NoError(t, err)
	req := plan.Matches[0].Actions[0].Request
	require.NotContains(t, string(req.Body), "s3cr3t-value", "a stored request never carries a secret")
	wire, err := rs.Wire(req)
	require.NoError(t, err)
	data, err := json.Marshal(wire)
	require.NoError(t, err)
	require.Contains(t, string(data), "s3cr3t-value", "the sender adds it")
	require.NotContains(t, rs.Redact(string(data)), "s3cr3t-value")
	require.Contains(t, rs.Redact(string(data)), "Bearer ***")
}

func TestEnvDefault(t *testing.T) {
	rs := load(t, `
destinations:
  crm: {kind: http, url: "${CRM_URL:-https://crm.example.com/api}"}
rules:
  - name: a
    when: true
    actions: [{http: {destination: crm, url: "/x"}}]
`)
	require.Equal(t, "crm", rs.Destinations["crm"].Name)
	// A default is written in the rules file: it is no secret, and text
	// that happens to hold it is left alone.
	require.Equal(t, "https://crm.example.com/api and more", rs.Redact("https://crm.example.com/api and more"))
}

func TestLoadDirectoryMergesFilesAndRejectsDuplicatesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	write("a.yaml", "rules:\n  - name: one\n    when: true\n    actions: [{log: {message: a}}]\n")
	write("b.yml", "rules:\n  - name: two\n    when: true\n    actions: [{log: {message: b}}]\n")
	write("notes.txt", "ignored")
	rs, err := engine.LoadFiles(opts(), dir)
	require.NoError(t, err)
	require.Len(t, rs.Rules, 2)
	require.Equal(t, []string{"one", "two"}, []string{rs.Rules[0].Name, rs.Rules[1].Name})

	write("c.yaml", "rules:\n  - name: one\n    when: true\n    actions: [{log: {message: c}}]\n")
	_, err = engine.LoadFiles(opts(), dir)
	require.ErrorContains(t, err, filepath.Join(dir, "c.yaml")+`:2:11: duplicate rule name "one" (first defined at `+filepath.Join(dir, "a.yaml")+`:2)`)
}

func TestEmptyFileHasNoRules(t *testing.T) {
	rs := load(t, "# nothing yet\n")
	require.Empty(t, rs.Rules)
}

func TestVersionIsContentHash(t *testing.T) {
	a := load(t, "rules: []\n")
	b := load(t, "rules: []\n")
	c := load(t, "rules: []\n# changed\n")
	require.Equal(t, a.Version, b.Version)
	require.NotEqual(t, a.Version, c.Version)
}

// TestCommentAfterAFlowRuleIsNotACutCondition: a comment after a rule
// written as a flow mapping does not follow the condition itself.
func TestCommentAfterAFlowRuleIsNotACutCondition(t *testing.T) {
	rs := load(t, "rules:\n  - {name: a, when: true, actions: [{log: {message: x}}]} # every message\n  - name: b\n    when: 'type == \"pdf\"' # quoted: fine\n    actions: [{log: {message: x}}]\n")
	require.Len(t, rs.Rules, 2)
}
