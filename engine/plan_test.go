package engine_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

func payload(t testing.TB, name string) *engine.Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "cooby", name))
	require.NoError(t, err)
	ev, err := engine.Decode(data)
	require.NoError(t, err)
	return ev
}

func matched(t testing.TB, rs *engine.RuleSet, ev *engine.Event) []string {
	t.Helper()
	p, err := rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1700000000, 0)})
	require.NoError(t, err)
	names := []string{}
	for _, m := range p.Matches {
		names = append(names, m.Rule.Name)
	}
	return names
}

// rulesFor makes one rule per condition, each logging its own name.
func rulesFor(conds ...string) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, c := range conds {
		fmt.Fprintf(&b, "  - name: r%d\n    when: %q\n    actions: [{log: {message: r%d}}]\n", i, c, i)
	}
	return b.String()
}

func TestConditions(t *testing.T) {
	tests := []struct {
		cond    string
		payload string
		want    bool
	}{
		{`type == "document" && direction == "received"`, "received-document.json", true},
		{`type == "document" && direction == "received"`, "sent-chat.json", false},
		{`type in ["pdf", "csv", "doc"]`, "received-pdf.json", true},
		{`message.type == "pdf"`, "received-pdf.json", true},
		{`is_group`, "received-group-chat.json", true},
		{`is_group`, "received-chat.json", false},
		{`icontains(text, "urgent")`, "received-group-chat.json", true},
		{`icontains(message.text, "URGENT: ORDER")`, "received-group-chat.json", true},
		{`lower(text) contains "urgent"`, "received-group-chat.json", true},
		{`lower(text) == "hello, do you ship to manchester?"`, "received-chat.json", true},
		{`phone("+44 7441 369136") == phone(chat_id)`, "received-chat.json", true},
		{`phone(sender.phone) == "447441369136"`, "received-chat.json", true},
		{`time.Year() == 2023`, "received-chat.json", true},
		// matched() evaluates at 1700000000, the moment this chat was written.
		{`time <= now()`, "received-chat.json", true},
		{`now() - time < duration("1h")`, "received-chat.json", true},
		{`now() - time > duration("1h")`, "received-chat.json", false},
		{`len(participants) == 2`, "received-chat.json", true},
		{`any(participants, .wa_name == "Sarah Brown")`, "received-chat.json", true},
		{`text matches "(?i)invoice"`, "received-document.json", true},
		{`message.is_error && message.error_code == "E_SEND"`, "sent-error.json", true},
		{`upper(type) == "CHAT"`, "received-chat.json", true},
		// The sparse payload has no chat_id, no chat_type, no message.id:
		// missing compares as empty, never as a run-time error.
		{`chat_id == "" && message.id == "" && chat_type == ""`, "sent-image-sparse.json", true},
		{`message.file_name == "" && caption == ""`, "sent-image-sparse.json", true},
		{`sender.wa_name == "Cooby"`, "sent-image-sparse.json", true},
		{`time.Unix() == 1715150681`, "sent-image-sparse.json", true},
	}
	for _, tt := range tests {
		t.Run(tt.cond+"/"+tt.payload, func(t *testing.T) {
			rs := load(t, rulesFor(tt.cond))
			got := len(matched(t, rs, payload(t, tt.payload))) == 1
			require.Equal(t, tt.want, got)
		})
	}
}

func TestOrderStopAndEnabled(t *testing.T) {
	rs := load(t, `
rules:
  - name: first
    when: direction == "received"
    actions: [{log: {message: a}}]
  - name: off
    when: true
    enabled: false
    actions: [{log: {message: b}}]
  - name: router
    when: type == "chat"
    stop: true
    actions: [{log: {message: c}}]
  - name: after-stop
    when: true
    actions: [{log: {message: d}}]
`)
	require.Equal(t, []string{"first", "router"}, matched(t, rs, payload(t, "received-chat.json")))
	require.Equal(t, []string{"first", "after-stop"}, matched(t, rs, payload(t, "received-pdf.json")))
}

func TestPayloadTextIsNeverEvaluated(t *testing.T) {
	rs := load(t, `
rules:
  - name: echo
    when: true
    actions: [{log: {message: "said: {{ text }}"}}]
`)
	ev, err := engine.Decode([]byte(`{"message":{"text":"{{ 1 + 1 }} ${HOME} {{ sender.phone }}"}}`))
	require.NoError(t, err)
	p, err := rs.Plan(ev, engine.PlanOptions{})
	require.NoError(t, err)
	var req struct{ Message string }
	require.NoError(t, json.Unmarshal(p.Matches[0].Actions[0].Request.Body, &req))
	require.Equal(t, "said: {{ 1 + 1 }} ${HOME} {{ sender.phone }}", req.Message)
}

func TestStructuredBodyKeepsTypes(t *testing.T) {
	rs := load(t, `
rules:
  - name: crm
    when: true
    actions:
      - http:
          url: https://crm.example.com/hook
          body:
            count: "{{ len(participants) }}"
            group: "{{ is_group }}"
            names: "{{ map(participants, .wa_name) }}"
            label: "n={{ len(participants) }}"
            fixed: 3
            nothing: null
            nested: [{id: "{{ message.id }}"}]
`)
	p, err := rs.Plan(payload(t, "received-chat.json"), engine.PlanOptions{})
	require.NoError(t, err)
	var req struct{ Body string }
	require.NoError(t, json.Unmarshal(p.Matches[0].Actions[0].Request.Body, &req))
	require.JSONEq(t, `{"count":2,"group":false,"names":["Sarah Brown","Cooby"],"label":"n=2","fixed":3,"nothing":null,"nested":[{"id":"3EB0A1B2C3D4E5F60718"}]}`, req.Body)
}

func TestExplain(t *testing.T) {
	rs := load(t, rulesFor(
		`direction == "received" && type == "document"`,
		`direction == "sent" && type == "chat"`,
		`icontains(text, "zzz")`,
	))
	p, err := rs.Plan(payload(t, "received-chat.json"), engine.PlanOptions{Explain: true})
	require.NoError(t, err)
	require.Len(t, p.Misses, 3)
	require.Equal(t, `type == "document" is false (type is "chat")`, p.Misses[0].Reason)
	require.Equal(t, `direction == "sent" is false (direction is "received")`, p.Misses[1].Reason)
	require.Contains(t, p.Misses[2].Reason, `icontains(text, "zzz")`)
}

// TestIndexMatchesLinearScan checks the prefilter index never changes the
// outcome: a rule set evaluated with the index matches exactly the rules
// whose conditions hold.
func TestIndexMatchesLinearScan(t *testing.T) {
	types := []string{"chat", "image", "document", "pdf", "audio", "reaction", ""}
	dirs := []string{"sent", "received", ""}
	chats := []string{"individual", "group", ""}
	ids := []string{"1@c.us", "2@c.us", "3@g.us", ""}
	texts := []string{"Hello", "URGENT please", "urgent", "invoice attached", ""}
	phones := []string{"447441369136", "15550100", ""}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	forms := []func() string{
		func() string { return fmt.Sprintf("type == %q", pick(types)) },
		func() string { return fmt.Sprintf("message.type in [%q, %q]", pick(types), pick(types)) },
		func() string { return fmt.Sprintf("%q == direction", pick(dirs)) },
		func() string { return fmt.Sprintf("chat_type == %q", pick(chats)) },
		func() string { return fmt.Sprintf("(type == %q || direction == %q)", pick(types), pick(dirs)) },
		func() string { return fmt.Sprintf("chat_id == %q", pick(ids)) },
		func() string { return fmt.Sprintf("chat_id endsWith %q", []string{"@g.us", "@c.us"}[rng.IntN(2)]) },
		func() string {
			return fmt.Sprintf("icontains(text, %q)", []string{"urgent", "URGENT", "Invoice", "x"}[rng.IntN(4)])
		},
		func() string {
			return fmt.Sprintf("message.text contains %q", []string{"urgent", "URGENT", "Hello"}[rng.IntN(3)])
		},
		func() string { return fmt.Sprintf("sender.phone startsWith %q", []string{"44", "1", ""}[rng.IntN(3)]) },
		func() string { return "is_group" },
		func() string { return fmt.Sprintf("lower(text) == %q", pick(texts)) },
	}
	var conds []string
	for range 300 {
		var parts []string
		for _, f := range forms {
			if rng.IntN(5) == 0 {
				parts = append(parts, f())
			}
		}
		if len(parts) == 0 {
			parts = append(parts, "true")
		}
		conds = append(conds, strings.Join(parts, " && "))
	}
	rs := load(t, rulesFor(conds...))
	// The reference: each condition evaluated by expr alone. In
	// `false || (cond)` no conjunct is one the precheck or the index
	// recognises, so the VM decides.
	reference := make([]*engine.RuleSet, len(conds))
	for i, c := range conds {
		reference[i] = load(t, rulesFor("false || ("+c+")"))
	}
	for range 300 {
		raw := fmt.Sprintf(`{"direction":%q,"chat_type":%q,"chat_id":%q,"message":{"type":%q,"text":%q},"sender":{"phone":%q}}`,
			pick(dirs), pick(chats), pick(ids), pick(types), pick(texts), pick(phones))
		ev, err := engine.Decode([]byte(raw))
		require.NoError(t, err)
		got := matched(t, rs, ev)
		want := []string{}
		for i, ref := range reference {
			if len(matched(t, ref, ev)) == 1 {
				want = append(want, fmt.Sprintf("r%d", i))
			}
		}
		require.Equal(t, want, got, raw)
	}
}

func TestRunTestsReportsFailures(t *testing.T) {
	dir := t.TempDir()
	src := `
rules:
  - name: files
    when: type == "document"
    actions: [{log: {message: "file {{ file_name }}"}}]
tests:
  - name: passes
    payload: {message: {type: document, file_name: a.pdf}}
    expect: [files]
    actions:
      - rule: files
        fields: {message: file a.pdf}
  - name: wrong rules
    payload: {message: {type: chat}}
    expect: [files]
  - name: wrong field
    payload: {message: {type: document, file_name: b.pdf}}
    expect: [files]
    actions:
      - rule: files
        fields: {message: file a.pdf}
`
	path := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	rs, err := engine.LoadFiles(opts(), path)
	require.NoError(t, err)
	res := rs.RunTests()
	require.Len(t, res, 3)
	require.True(t, res[0].Passed(), res[0].Failures)
	require.Equal(t, []string{"matched rules: expected [files], got none"}, res[1].Failures)
	require.Equal(t, []string{`rule "files" action 1: message: expected "file a.pdf", got "file b.pdf"`}, res[2].Failures)
}

// TestNestedPayloadValuesAreEscaped: a structured Slack value that holds a
// whole list from the payload escapes every string inside it.
func TestNestedPayloadValuesAreEscaped(t *testing.T) {
	rs := load(t, `
destinations:
  team: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
rules:
  - name: all
    when: true
    actions:
      - slack:
          destination: team
          text: "<!here> {{ sender.wa_name }}"
          blocks: [{type: section, text: {type: mrkdwn, text: "{{ participants }}"}}, {type: context, elements: "{{ participants }}"}]
`)
	ev, err := engine.Decode([]byte(`{"sender":{"wa_name":"<!channel>"},"participants":[{"phone":"1","wa_name":"<@U024BE7LH>"}]}`))
	require.NoError(t, err)
	p, err := rs.Plan(ev, engine.PlanOptions{})
	require.NoError(t, err)
	require.NoError(t, p.Matches[0].Actions[0].Err)
	body := string(p.Matches[0].Actions[0].Request.Body)
	require.NotContains(t, body, "<!channel>")
	require.NotContains(t, body, "<@U024BE7LH>")
	require.Contains(t, body, "&lt;@U024BE7LH&gt;")
	require.Contains(t, body, `<!here> &lt;!channel&gt;`, "the author's own <!here> stays")
}

// TestTestsInASeparateFile: `tests:` may name a YAML file of cases,
// relative to the rules file; its problems are reported in that file.
func TestTestsInASeparateFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	write("rules.yaml", "rules:\n  - name: files\n    when: type == \"document\"\n    actions: [{log: {message: x}}]\ntests: cases.yaml\n")
	write("cases.yaml", "- name: a document\n  payload: {message: {type: document}}\n  expect: [files]\n")
	rs, err := engine.LoadFiles(opts(), filepath.Join(dir, "rules.yaml"))
	require.NoError(t, err)
	require.Len(t, rs.Tests, 1)
	require.True(t, rs.RunTest(rs.Tests[0]).Passed())

	write("cases.yaml", "- name: broken\n  payload: {message: {type: document}}\n  expct: [files]\n")
	_, err = engine.LoadFiles(opts(), filepath.Join(dir, "rules.yaml"))
	require.ErrorContains(t, err, filepath.Join(dir, "cases.yaml")+`:3:3: unknown field "expct" (did you mean "expect"?)`)
}

// TestNowIsTheEvaluationTime: now() in conditions and templates is the
// time the evaluation is for (dry-run --at, a test's at:, a delayed
// check's due time), not the wall clock. (now() is an expr builtin: a
// patch that only looked at function calls missed it.)
func TestNowIsTheEvaluationTime(t *testing.T) {
	rs := load(t, `
rules:
  - name: recent
    when: now() - time < duration("2h")
    actions: [{log: {message: "{{ now() }}"}}]
`)
	ev := payload(t, "received-chat.json") // written 2023-11-14T22:13:20Z
	p, err := rs.Plan(ev, engine.PlanOptions{Now: ev.Time.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, p.Matches, 1)
	require.Contains(t, string(p.Matches[0].Actions[0].Request.Body), "2023-11-14T23:13:20Z")
	p, err = rs.Plan(ev, engine.PlanOptions{Now: ev.Time.Add(3 * time.Hour)})
	require.NoError(t, err)
	require.Empty(t, p.Matches)
}

// TestLowerTextIsComputedOnce: lower(text) reads the copy made once per
// payload, so rules the precheck cannot decide still allocate nothing.
func TestLowerTextIsComputedOnce(t *testing.T) {
	ev := payload(t, "received-chat.json") // text has capitals
	allocs := func(n int) float64 {
		var b strings.Builder
		b.WriteString("rules:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - name: r%d\n    when: 'lower(text) == \"w%d\" || lower(caption) == \"c%d\"'\n    actions: [{log: {message: x}}]\n", i, i, i)
		}
		rs := load(t, b.String())
		return testing.AllocsPerRun(200, func() { _, _ = rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1, 0)}) })
	}
	few, many := allocs(10), allocs(500)
	require.Less(t, many-few, 5.0, "10 rules: %v allocs, 500 rules: %v", few, many)
}

// TestExpectIncludesAndExcludes: a case may require some rules to match
// and others not to, without listing every rule that matches; check
// refuses names in them that are no rule, at their position.
func TestExpectIncludesAndExcludes(t *testing.T) {
	rules := `
rules:
  - name: files
    when: type == "document"
    actions: [{log: {message: x}}]
  - name: everything
    when: true
    actions: [{log: {message: x}}]
  - name: chats
    when: type == "chat"
    actions: [{log: {message: x}}]
`
	rs := load(t, rules+`
tests:
  - name: includes
    payload: {message: {type: document}}
    expect_includes: [files]
    expect_excludes: [chats]
  - name: fails both ways
    payload: {message: {type: chat}}
    expect_includes: [files]
    expect_excludes: [chats, everything]
  - name: all three
    payload: {message: {type: chat}}
    expect: [everything, chats]
    expect_includes: [chats]
    expect_excludes: [files]
`)
	res := rs.RunTests()
	require.Len(t, res, 3)
	require.True(t, res[0].Passed(), res[0].Failures)
	require.Equal(t, []string{
		"matched rules: expected to include files, got [everything, chats]",
		"matched rules: expected not to include chats, got [everything, chats]",
		"matched rules: expected not to include everything, got [everything, chats]",
	}, res[1].Failures)
	require.True(t, res[2].Passed(), res[2].Failures)

	err := loadErr(t, rules+`
tests:
  - name: typos
    payload: {message: {type: chat}}
    expect_includes: [chat]
    expect_excludes: [file]
  - name: nothing expected
    payload: {message: {type: chat}}
`)
	require.Equal(t, `rules.yaml:16:23: test "typos": expect_includes: no rule is named "chat" (did you mean "chats"?)
rules.yaml:17:23: test "typos": expect_excludes: no rule is named "file" (did you mean "files"?)
rules.yaml:18:5: test "nothing expected" has no expect: (the rule names that must match, in order; [] for none), expect_includes: or expect_excludes:`, err)
}

// TestRulesDirectoryWithTestsFile: a directory of rules may hold the tests
// file one of them names under tests:; it is read as tests, not as rules.
func TestRulesDirectoryWithTestsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644))
	}
	write("rules.yaml", "rules:\n  - name: files\n    when: type == \"document\"\n    actions: [{log: {message: x}}]\ntests: tests.yaml\n")
	write("tests.yaml", "- name: a document\n  payload: {message: {type: document}}\n  expect: [files]\n")
	write("more.yaml", "rules:\n  - name: chats\n    when: type == \"chat\"\n    actions: [{log: {message: x}}]\n")
	rs, err := engine.LoadFiles(opts(), dir)
	require.NoError(t, err)
	require.Len(t, rs.Rules, 2)
	require.Len(t, rs.Tests, 1)
	require.True(t, rs.RunTest(rs.Tests[0]).Passed())
	require.NotContains(t, rs.Files, filepath.Join(dir, "tests.yaml"))

	// The version still covers the tests file.
	before := rs.Version
	write("tests.yaml", "- name: a document\n  payload: {message: {type: document}}\n  expect_includes: [files]\n")
	rs, err = engine.LoadFiles(opts(), dir)
	require.NoError(t, err)
	require.NotEqual(t, before, rs.Version)
}

// TestDurationsInTemplates: a duration renders to the second without zero
// units, in text and in a JSON body alike.
func TestDurationsInTemplates(t *testing.T) {
	rs := load(t, `
rules:
  - name: d
    when: true
    actions:
      - log: {message: "{{ duration('30m0.000761156s') }} {{ duration('1h5m0s') }} {{ duration('2h') }} {{ duration('45.4s') }} {{ duration('1h0m5s') }} {{ duration('300ms') }} {{ duration('-90s') }}"}
      - http: {url: "https://crm.example.com/x", body: {waited: "{{ duration('1h5m0.2s') }}"}}
tests:
  - name: durations
    payload: {message: {type: chat}}
    expect: [d]
    actions:
      - rule: d
        fields: {message: "30m 1h5m 2h 45s 1h0m5s 0s -1m30s"}
      - rule: d
        action: 2
        fields: {body.waited: "1h5m"}
`)
	for _, res := range rs.RunTests() {
		require.True(t, res.Passed(), res.Failures)
	}
}

// TestListFileIsNotRules: a list loaded as a rules file (a tests file no
// rules file names) says what it looks like and how to use it.
func TestListFileIsNotRules(t *testing.T) {
	_, err := engine.Load(opts(), engine.Source{Name: "dir/cases.yaml", Data: []byte("- name: a\n  payload: {}\n  expect: []\n")})
	require.EqualError(t, err, "dir/cases.yaml:1:1: expected a rules file (a mapping of rules:, destinations:, tests: ...), got a list; if this is a list of tests, name it in the rules file (tests: cases.yaml)")
}

// TestActionNames: an action's name: is how a test picks it (as is its
// number from 1), and failures name it the way every output does.
func TestActionNames(t *testing.T) {
	rs := load(t, `
rules:
  - name: files
    when: type == "document"
    actions:
      - log: {message: "first"}
      - name: to-crm
        http: {url: "https://crm.example.com/files", body: {file: "{{ file_name }}"}}
tests:
  - name: by name
    payload: {message: {type: document, file_name: a.pdf}}
    expect: [files]
    actions:
      - {rule: files, action: to-crm, fields: {body.file: b.pdf}}
      - {rule: files, action: 1, fields: {message: second}}
      - {rule: files, fields: {message: first}}
`)
	r := rs.Rule("files")
	require.Equal(t, "action 1", r.Actions[0].Label())
	require.Equal(t, `action 2 "to-crm"`, r.Actions[1].Label())
	res := rs.RunTests()
	require.Equal(t, []string{
		`rule "files" action 2 "to-crm": body.file: expected "b.pdf", got "a.pdf"`,
		`rule "files" action 1: message: expected "second", got "first"`,
	}, res[0].Failures)
}

// TestVersionCoversEveryFileRead: the version is a hash of every file the
// load read: the rules, a tests file elsewhere, a test payload and a list
// file, each of which changes it.
func TestVersionCoversEveryFileRead(t *testing.T) {
	root := t.TempDir()
	write := func(name, src string) {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
	write("rules/rules.yaml", "lists:\n  vip: {file: ../lists/vip.txt}\nrules:\n  - name: vip\n    when: phone(sender.phone) in lists.vip\n    actions: [{log: {message: x}}]\ntests: ../tests/cases.yaml\n")
	write("tests/cases.yaml", "- name: a VIP\n  payload: ../payloads/vip.json\n  expect_includes: [vip]\n")
	write("payloads/vip.json", `{"sender": {"phone": "1"}, "message": {"type": "chat"}}`)
	write("lists/vip.txt", "1\n")
	version := func() string {
		rs, err := engine.LoadFiles(opts(), filepath.Join(root, "rules"))
		require.NoError(t, err)
		return rs.Version
	}
	seen := map[string]bool{version(): true}
	for _, change := range [][2]string{
		{"tests/cases.yaml", "- name: a VIP\n  payload: ../payloads/vip.json\n  expect: [vip]\n"},
		{"payloads/vip.json", `{"sender": {"phone": "1"}, "message": {"type": "chat", "text": "hi"}}`},
		{"lists/vip.txt", "1\n2\n"},
	} {
		write(change[0], change[1])
		v := version()
		require.False(t, seen[v], "changing %s did not change the version", change[0])
		seen[v] = true
	}
}
