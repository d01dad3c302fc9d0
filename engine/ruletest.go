package engine

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// TestCase is one entry of a rules file's `tests:`: a payload and what the
// rules must do with it. `switchboard test` runs them through Plan, the
// same evaluation the live service uses.
type TestCase struct {
	Name string
	// Payload is the raw JSON body; PayloadFile the file it came from, if any.
	Payload     []byte
	PayloadFile string
	// At is the evaluation time (`now()`); zero means the payload's own time.
	At time.Time
	// Expect lists the rule names that must match, in order, and no
	// other; nil if the case gives no exact list (expect:).
	Expect []string
	// ExpectIncludes are rules that must be among those that match, and
	// ExpectExcludes rules that must not: a case that checks only these
	// does not break when an unrelated rule starts matching too.
	ExpectIncludes, ExpectExcludes []string
	// Context and Later are other messages of the conversation: received
	// before the payload, and after it (before delayed checks run).
	Context, Later [][]byte
	// Fired, if set, lists the delayed rules (after:) that must act when
	// checked at their due time.
	Fired *[]string
	// Run names a scheduled rule to run (at At) with Digest instead of
	// evaluating a payload; Expect then lists it if it acts.
	Run string
	// Digest, if set, gives the run's digest counts (received, sent,
	// chats); otherwise they are counted from the context messages.
	Digest *Digest
	// Actions are optional expectations on rendered requests.
	Actions []ActionExpect
	File    string
	Line    int

	// refs are the rule names the case refers to, with their positions,
	// checked once every file is loaded (checkTestRefs).
	refs []ruleRef
}

// ruleRef is a rule name written in a test, where it is written.
type ruleRef struct {
	field string
	name  string
	node  *yaml.Node
}

// ActionExpect checks fields of one rendered action. Field paths are dotted
// paths into the request as it will be sent (as dry-run --json prints it);
// a string that holds JSON (an HTTP body) is entered too: `body.file`.
type ActionExpect struct {
	Rule string `yaml:"rule"`
	// Action is the action's index in the rule (from 0), resolved at load
	// from `action:` as written: its number from 1, as every output
	// numbers it, or its name:. Default: the first.
	Action     int               `yaml:"-"`
	ActionNode *yaml.Node        `yaml:"action"`
	Fields     map[string]string `yaml:"fields"`
	Contains   map[string]string `yaml:"contains"`
}

// label names the expected action in failures, as every output does.
func (ae ActionExpect) label(r *Rule) string {
	if r != nil && ae.Action >= 0 && ae.Action < len(r.Actions) {
		return r.Actions[ae.Action].Label()
	}
	return ActionLabel(ae.Action, "")
}

type testSpec struct {
	Name    string       `yaml:"name"`
	Payload *yaml.Node   `yaml:"payload"`
	Context []*yaml.Node `yaml:"context"`
	Later   []*yaml.Node `yaml:"later"`
	At      string       `yaml:"at"`
	Expect  *[]string    `yaml:"expect"`
	// ExpectIncludes and ExpectExcludes: see TestCase.
	ExpectIncludes []string       `yaml:"expect_includes"`
	ExpectExcludes []string       `yaml:"expect_excludes"`
	Fired          *[]string      `yaml:"fired"`
	Run            string         `yaml:"run"`
	Digest         *testDigest    `yaml:"digest"`
	Actions        []ActionExpect `yaml:"actions"`
}

// testDigest is the digest a test gives a scheduled rule's run.
type testDigest struct {
	Received int `yaml:"received"`
	Sent     int `yaml:"sent"`
	Chats    int `yaml:"chats"`
}

// loadTests reads `tests:`: a list of cases, or the path of a YAML file
// holding that list (relative to the rules file).
func loadTests(n *yaml.Node, file string, errs *diag.List, read func(string) ([]byte, error)) []*TestCase {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		path := relative(file, n.Value)
		data, err := read(path)
		if err != nil {
			errs.Addf(n, "tests: %v", err)
			return nil
		}
		doc, perr := yamlx.Parse(data)
		if perr != nil {
			perr.File = path
			errs.Add(perr)
			return nil
		}
		var sub diag.List
		out := loadTestList(doc, path, &sub, read)
		sub.SetFile(path)
		errs.Add(sub.Errs...)
		return out
	}
	return loadTestList(n, file, errs, read)
}

func loadTestList(n *yaml.Node, file string, errs *diag.List, read func(string) ([]byte, error)) []*TestCase {
	var specs []testSpec
	if e := yamlx.Decode(n, &specs); len(e) > 0 {
		errs.Add(e...)
		return nil
	}
	items := n
	if items.Kind == yaml.DocumentNode && len(items.Content) == 1 {
		items = items.Content[0]
	}
	var out []*TestCase
	for i, s := range specs {
		at := items.Content[i]
		tc := &TestCase{Name: s.Name, Actions: s.Actions, File: file, Line: at.Line}
		if tc.Name == "" {
			tc.Name = fmt.Sprintf("test %d", i+1)
		}
		if s.Expect == nil && s.ExpectIncludes == nil && s.ExpectExcludes == nil {
			errs.Addf(at, "test %q has no expect: (the rule names that must match, in order; [] for none), expect_includes: or expect_excludes:", tc.Name)
		}
		if s.Expect != nil {
			tc.Expect = append([]string{}, *s.Expect...)
		}
		tc.ExpectIncludes, tc.ExpectExcludes = s.ExpectIncludes, s.ExpectExcludes
		if s.At != "" {
			t, err := time.Parse(time.RFC3339, s.At)
			if err != nil {
				errs.Addf(at, "test %q: at: expected an RFC 3339 time such as 2026-01-02T09:00:00Z, got %q", tc.Name, s.At)
			}
			tc.At = t
		}
		tc.Fired = s.Fired
		tc.refs = testRefs(at)
		if s.Run != "" {
			tc.Run = s.Run
			if s.Digest != nil {
				tc.Digest = &Digest{Received: s.Digest.Received, Sent: s.Digest.Sent, Chats: s.Digest.Chats}
			}
			for _, n := range s.Context {
				tc.Context = append(tc.Context, payloadOf(n, file, tc.Name, errs, read))
			}
			out = append(out, tc)
			continue
		}
		if s.Payload == nil {
			errs.Addf(at, "test %q has no payload (a file path or an inline mapping)", tc.Name)
		} else {
			tc.Payload = payloadOf(s.Payload, file, tc.Name, errs, read)
			if s.Payload.Kind == yaml.ScalarNode {
				tc.PayloadFile = relative(file, s.Payload.Value)
			}
		}
		for _, n := range s.Context {
			tc.Context = append(tc.Context, payloadOf(n, file, tc.Name, errs, read))
		}
		for _, n := range s.Later {
			tc.Later = append(tc.Later, payloadOf(n, file, tc.Name, errs, read))
		}
		out = append(out, tc)
	}
	return out
}

// testRefs collects the rule names a test case's node refers to: in
// expect:, expect_includes:, expect_excludes:, fired:, run: and
// actions[].rule.
func testRefs(n *yaml.Node) []ruleRef {
	var out []ruleRef
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, n.Content[i+1]
		switch k {
		case "run":
			out = append(out, ruleRef{k, v.Value, v})
		case "expect", "expect_includes", "expect_excludes", "fired":
			for _, e := range v.Content {
				out = append(out, ruleRef{k, e.Value, e})
			}
		case "actions":
			for _, a := range v.Content {
				for j := 0; a.Kind == yaml.MappingNode && j+1 < len(a.Content); j += 2 {
					if a.Content[j].Value == "rule" {
						out = append(out, ruleRef{"actions: rule", a.Content[j+1].Value, a.Content[j+1]})
					}
				}
			}
		}
	}
	return out
}

// checkTestRefs reports every rule name a test refers to that names no
// rule, at its position, with the likely rule meant.
func (l *loader) checkTestRefs() {
	names := make([]string, 0, len(l.names))
	for n := range l.names {
		names = append(names, n)
	}
	for _, tc := range l.rs.Tests {
		for _, ref := range tc.refs {
			if _, ok := l.names[ref.name]; ok {
				continue
			}
			e := diag.At(ref.node, "test %q: %s: no rule is named %q", tc.Name, ref.field, ref.name)
			if s := diag.Suggest(ref.name, names); s != "" {
				e.Msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			e.File = tc.File
			l.errs.Add(e)
		}
		for i := range tc.Actions {
			if e := l.resolveAction(tc, &tc.Actions[i]); e != nil {
				e.File = tc.File
				l.errs.Add(e)
			}
		}
	}
}

// resolveAction turns a test's `action:` (a number from 1, or an action's
// name:) into the action's index, or reports why it cannot.
func (l *loader) resolveAction(tc *TestCase, ae *ActionExpect) *diag.Error {
	n := ae.ActionNode
	r := l.names[ae.Rule]
	if n == nil || r == nil { // the first action; an unknown rule is reported already
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return diag.At(n, "test %q: action: expected the action's number (from 1) or its name, got %s", tc.Name, yamlx.Describe(n))
	}
	if num, err := strconv.Atoi(n.Value); err == nil && n.ShortTag() == "!!int" {
		switch {
		case num == 0:
			return diag.At(n, "test %q: action: actions are numbered from 1 (action: 1 is the first, as dryrun and deliveries show it), or named", tc.Name)
		case num < 0 || num > len(r.Actions):
			return diag.At(n, "test %q: action: rule %q has %d actions, not %d", tc.Name, r.Name, len(r.Actions), num)
		}
		ae.Action = num - 1
		return nil
	}
	var names []string
	for _, a := range r.Actions {
		if a.Name == n.Value {
			ae.Action = a.Index
			return nil
		}
		if a.Name != "" {
			names = append(names, a.Name)
		}
	}
	e := diag.At(n, "test %q: action: rule %q has no action named %q", tc.Name, r.Name, n.Value)
	if s := diag.Suggest(n.Value, names); s != "" {
		e.Msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(names) == 0 {
		e.Msg += " (its actions have no name:; number them from 1)"
	}
	return e
}

// payloadOf reads a test payload: a JSON file (relative to the rules
// file) or an inline mapping.
func payloadOf(p *yaml.Node, file, test string, errs *diag.List, read func(string) ([]byte, error)) []byte {
	if p.Kind == yaml.ScalarNode {
		data, err := read(relative(file, p.Value))
		if err != nil {
			errs.Addf(p, "test %q: payload: %v", test, err)
		}
		return data
	}
	var v any
	if err := p.Decode(&v); err != nil {
		errs.Addf(p, "test %q: payload: %v", test, err)
		return nil
	}
	data, err := json.Marshal(normalizeYAML(v))
	if err != nil {
		errs.Addf(p, "test %q: payload cannot be JSON: %v", test, err)
	}
	return data
}

// normalizeYAML turns YAML-decoded values (map[string]any, time.Time for
// unquoted dates) into what encoding/json accepts.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeYAML(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeYAML(e)
		}
	case time.Time:
		return x.Format(time.RFC3339)
	}
	return v
}

func relative(file, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}

// TestResult is the outcome of one TestCase.
type TestResult struct {
	Case *TestCase
	// Got are the matched rule names, in order; GotFired the delayed
	// rules that acted when checked.
	Got      []string
	GotFired []string
	Failures []string
}

// Passed reports whether the case passed.
func (r TestResult) Passed() bool { return len(r.Failures) == 0 }

// RunTests runs every test case of the rule set.
func (rs *RuleSet) RunTests() []TestResult {
	out := make([]TestResult, 0, len(rs.Tests))
	for _, tc := range rs.Tests {
		out = append(out, rs.RunTest(tc))
	}
	return out
}

// checkExpect compares the rules that matched (or acted) with the case's
// expect:, expect_includes: and expect_excludes:.
func checkExpect(tc *TestCase, what string, got []string) []string {
	var fails []string
	if tc.Expect != nil && !slices.Equal(got, tc.Expect) {
		fails = append(fails, fmt.Sprintf("%s: expected %s, got %s", what, list(tc.Expect), list(got)))
	}
	for _, name := range tc.ExpectIncludes {
		if !slices.Contains(got, name) {
			fails = append(fails, fmt.Sprintf("%s: expected to include %s, got %s", what, name, list(got)))
		}
	}
	for _, name := range tc.ExpectExcludes {
		if slices.Contains(got, name) {
			fails = append(fails, fmt.Sprintf("%s: expected not to include %s, got %s", what, name, list(got)))
		}
	}
	return fails
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return "[" + strings.Join(names, ", ") + "]"
}

func checkAction(rs *RuleSet, plan *Plan, ae ActionExpect) []string {
	var m *Match
	for i := range plan.Matches {
		if plan.Matches[i].Rule.Name == ae.Rule {
			m = &plan.Matches[i]
		}
	}
	if m == nil {
		return []string{fmt.Sprintf("rule %q did not match, so its %s was not rendered", ae.Rule, ae.label(rs.Rule(ae.Rule)))}
	}
	lbl := ae.label(m.Rule)
	if ae.Action < 0 || ae.Action >= len(m.Actions) {
		return []string{fmt.Sprintf("rule %q has no %s", ae.Rule, lbl)}
	}
	a := m.Actions[ae.Action]
	if a.Err != nil {
		return []string{fmt.Sprintf("rule %q %s: %s", ae.Rule, lbl, rs.Redact(a.Err.Error()))}
	}
	wire, exact, err := rs.WireMasked(a.Request)
	if err != nil {
		return []string{fmt.Sprintf("rule %q %s: %s", ae.Rule, lbl, rs.Redact(err.Error()))}
	}
	redact := rs.Redact
	if exact {
		redact = func(s string) string { return s } // secrets are *** where they are used
	}
	data, err := json.Marshal(wire)
	if err != nil {
		return []string{fmt.Sprintf("rule %q %s: %v", ae.Rule, lbl, err)}
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return []string{fmt.Sprintf("rule %q %s: request is not JSON: %v", ae.Rule, lbl, err)}
	}
	var fails []string
	check := func(path, want string, contains bool) {
		got, ok := jsonPath(doc, path)
		gotS := redact(formatValue(got))
		switch {
		case !ok:
			fails = append(fails, fmt.Sprintf("rule %q %s: no field %s", ae.Rule, lbl, path))
		case contains && !strings.Contains(gotS, want):
			fails = append(fails, fmt.Sprintf("rule %q %s: %s: expected to contain %q, got %q", ae.Rule, lbl, path, want, gotS))
		case !contains && gotS != want:
			fails = append(fails, fmt.Sprintf("rule %q %s: %s: expected %q, got %q", ae.Rule, lbl, path, want, gotS))
		}
	}
	for _, k := range sortedKeys(ae.Fields) {
		check(k, ae.Fields[k], false)
	}
	for _, k := range sortedKeys(ae.Contains) {
		check(k, ae.Contains[k], true)
	}
	return fails
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// jsonPath follows a dotted path into decoded JSON, entering strings that
// hold JSON documents and list indexes written as numbers.
func jsonPath(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	head, rest, _ := strings.Cut(path, ".")
	if s, ok := v.(string); ok {
		var inner any
		if json.Unmarshal([]byte(s), &inner) != nil {
			return nil, false
		}
		v = inner
	}
	switch x := v.(type) {
	case map[string]any:
		e, ok := x[head]
		if !ok {
			return nil, false
		}
		return jsonPath(e, rest)
	case []any:
		var i int
		if _, err := fmt.Sscanf(head, "%d", &i); err != nil || i < 0 || i >= len(x) {
			return nil, false
		}
		return jsonPath(x[i], rest)
	}
	return nil, false
}
