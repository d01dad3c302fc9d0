package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cli runs one command line in-process and returns its exit code and output.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), &stdio{in: strings.NewReader(stdin), out: &out, err: &errb}, args)
	return code, out.String(), errb.String()
}

const example = "../../rules.example.yaml"

func TestCheckExample(t *testing.T) {
	code, out, _ := cli(t, "", "check", example)
	require.Equal(t, 0, code)
	require.Contains(t, out, "ok: ")

	code, out, _ = cli(t, "", "check", "--json", example)
	require.Equal(t, 0, code)
	var rep struct {
		OK     bool
		Rules  int
		Errors []any
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.True(t, rep.OK)
	require.Positive(t, rep.Rules)
	require.Empty(t, rep.Errors)
}

func TestCheckReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rules:
  - name: a
    when: direction == 5
    actions: [{log: {message: "{{ sender.nme }}"}}]
  - name: a
    when: true
    sned: x
    actions: [{log: {message: x}}]
`), 0o644))
	code, out, _ := cli(t, "", "check", path)
	require.Equal(t, 1, code)
	require.Equal(t, path+`:3:21: invalid operation: == (mismatched types string and int): direction is a string, compare it with "5"
`+path+`:4:42: unknown field nme in sender or participant
`+path+`:5:11: duplicate rule name "a" (first defined at `+path+`:2)
`+path+`:7:5: unknown field "sned"
`, out)

	code, out, _ = cli(t, "", "check", path, "--json")
	require.Equal(t, 1, code)
	var rep struct {
		OK     bool
		Errors []struct {
			File    string
			Line    int
			Column  int
			Message string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.False(t, rep.OK)
	require.Len(t, rep.Errors, 4)
	require.Equal(t, 3, rep.Errors[0].Line)
	require.Equal(t, 21, rep.Errors[0].Column)
}

func TestTestCommand(t *testing.T) {
	code, out, _ := cli(t, "", "test", example)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, " passed, 0 failed\n")

	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rules:
  - name: files
    when: type == "document"
    actions: [{log: {message: x}}]
tests:
  - name: chat is not a file
    payload: {message: {type: chat}}
    expect: [files]
`), 0o644))
	code, out, _ = cli(t, "", "test", path)
	require.Equal(t, 1, code)
	require.Contains(t, out, "FAIL  chat is not a file ("+path+":6)\n      matched rules: expected [files], got none\n")
	require.Contains(t, out, "0 passed, 1 failed\n")
}

func TestDryrunJSON(t *testing.T) {
	code, out, errOut := cli(t, "", "dryrun", "--json", "-r", example, "../../testdata/cooby")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// One report per payload, each evaluated at its own time (no --at);
	// then, at the latest payload's time, the two delayed unanswered-chat
	// checks that came due by then, and the scheduled digest.
	require.Len(t, lines, 16)
	require.Contains(t, lines[0], `"evaluated_at_payload_time":true`)
	require.Contains(t, lines[13], `(unanswered-for-30-minutes after: checked at`)
	require.Contains(t, lines[14], `(unanswered-for-30-minutes after: checked at`)
	require.Contains(t, lines[15], `"payload":"scheduled weekday-morning-digest`)
	lines = lines[:13]
	byPayload := map[string][]string{}
	for _, l := range lines {
		var rep struct {
			Payload string
			Matched []struct {
				Rule    string
				Actions []struct {
					Kind    string
					Request json.RawMessage
				}
			}
		}
		require.NoError(t, json.Unmarshal([]byte(l), &rep))
		for _, m := range rep.Matched {
			byPayload[filepath.Base(rep.Payload)] = append(byPayload[filepath.Base(rep.Payload)], m.Rule)
			for _, a := range m.Actions {
				require.True(t, json.Valid(a.Request))
			}
		}
	}
	require.Equal(t, []string{"customer-files-to-crm"}, byPayload["received-pdf.json"], "already awaiting: only the first message of a wait is followed up")
	require.Equal(t, []string{"urgent-group-messages-to-slack"}, byPayload["received-group-chat.json"])
	require.Equal(t, []string{"delivery-failures-by-email"}, byPayload["sent-error.json"])
	require.Equal(t, []string{"ignore-reactions-and-deletions"}, byPayload["received-reaction.json"])
	require.Empty(t, byPayload["sent-chat.json"])
}

func TestDryrunBadPayloadGoesOn(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "a-bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"direction": 5}`), 0o644))
	good := "../../testdata/cooby/received-pdf.json"
	code, out, _ := cli(t, "", "dryrun", "-r", example, bad, good)
	require.Equal(t, 1, code)
	require.Contains(t, out, "== "+bad+"\nerror: payload field \"direction\": expected a string, got number\n")
	require.Contains(t, out, "matched customer-files-to-crm")
}

func TestDryrunStdinAndSecrets(t *testing.T) {
	t.Setenv("CRM_TOKEN", "tok-canary-123456")
	data, err := os.ReadFile("../../testdata/cooby/received-document.json")
	require.NoError(t, err)
	code, out, _ := cli(t, string(data), "dryrun", "-r", example, "-")
	require.Equal(t, 0, code)
	require.Contains(t, out, "== -\n")
	require.Contains(t, out, "Authorization: Bearer ***")
	require.NotContains(t, out, "tok-canary-123456")
	code, out, _ = cli(t, string(data), "dryrun", "--json", "-r", example, "-")
	require.Equal(t, 0, code)
	require.NotContains(t, out, "tok-canary-123456")
}

func TestDryrunExplain(t *testing.T) {
	code, out, _ := cli(t, "", "dryrun", "--explain", "-r", example, "../../testdata/cooby/sent-chat.json")
	require.Equal(t, 0, code)
	require.Contains(t, out, `not matched new-customer-questions: direction == "received" is false (direction is "sent")`)
}

func TestHelpAndVersion(t *testing.T) {
	for _, c := range []string{"check", "dryrun", "test"} {
		code, _, errOut := cli(t, "", c, "--help")
		require.Equal(t, 0, code)
		require.Contains(t, errOut, "Usage: switchboard "+c)
	}
	code, out, _ := cli(t, "", "--version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "switchboard "))
	code, _, errOut := cli(t, "", "nope")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown command "nope"`)
}

// TestDryrunKeepsConversationState: payloads of one run share conversation
// state, ordered by their timestamps, not by the order they are given.
func TestDryrunKeepsConversationState(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	rules := write("rules.yaml", `
rules:
  - name: waiting
    when: chat.awaiting_reply && !from_team
    actions: [{log: {message: "{{ chat.id }} waiting {{ chat.waiting_for }}"}}]
`)
	reply := write("1-reply.json", `{"chat_id":"1@c.us","direction":"sent","user_phone":"99","message":{"id":"R","type":"chat"},"timestamp":"2000","sender":{"phone":"99"}}`)
	question := write("2-question.json", `{"chat_id":"1@c.us","direction":"received","user_phone":"99","message":{"id":"Q","type":"chat"},"timestamp":"1000","sender":{"phone":"1"}}`)
	later := write("3-later.json", `{"chat_id":"1@c.us","direction":"received","user_phone":"99","message":{"id":"L","type":"chat"},"timestamp":"3000","sender":{"phone":"1"}}`)
	code, out, _ := cli(t, "", "dryrun", "--json", "--at", "1970-01-01T01:00:00Z", "-r", rules, reply, question, later)
	require.Equal(t, 0, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	var reps []struct {
		Chat struct {
			AwaitingReply bool   `json:"awaiting_reply"`
			WaitingFor    string `json:"waiting_for"`
			Seconds       int64  `json:"waiting_for_seconds"`
		}
		Matched []struct{ Rule string }
	}
	for _, l := range lines {
		var rep struct {
			Chat struct {
				AwaitingReply bool   `json:"awaiting_reply"`
				WaitingFor    string `json:"waiting_for"`
				Seconds       int64  `json:"waiting_for_seconds"`
			}
			Matched []struct{ Rule string }
		}
		require.NoError(t, json.Unmarshal([]byte(l), &rep))
		reps = append(reps, rep)
	}
	require.False(t, reps[0].Chat.AwaitingReply)
	require.False(t, reps[1].Chat.AwaitingReply, "the question was answered by the reply given before it")
	require.Empty(t, reps[1].Matched)
	require.True(t, reps[2].Chat.AwaitingReply)
	require.Equal(t, "10m", reps[2].Chat.WaitingFor, "a duration is text in JSON")
	require.Equal(t, int64(600), reps[2].Chat.Seconds, "and seconds, never nanoseconds")
	require.Len(t, reps[2].Matched, 1)
}

// TestDryrunSimulatesThrottleGroupAndSchedule: a dry run over several
// payloads marks throttled repeats, closes groups and runs scheduled rules
// at the end, with what the payloads give them.
func TestDryrunSimulatesThrottleGroupAndSchedule(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`
rules:
  - name: ping
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 10m}
    actions: [{log: {message: "ping {{ text }}"}}]
  - name: batch
    when: direction == "received"
    group: {key: "{{ chat_id }}", window: 10m}
    actions: [{log: {message: "{{ len(group) }} messages from {{ chat_id }}"}}]
  - name: digest
    schedule: "@daily"
    when: digest.received > 0
    actions: [{log: {message: "{{ digest.received }} received in {{ digest.chats }} chats, {{ len(digest.awaiting) }} waiting"}}]
`), 0o644))
	var payloads []string
	for i, ts := range []int{1000, 1100, 1200} {
		p := filepath.Join(dir, fmt.Sprintf("%d.json", i))
		require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, `{"chat_id":"1@c.us","direction":"received","message":{"id":"m%d","type":"chat","text":"t%d"},"timestamp":"%d"}`, i, i, ts), 0o644))
		payloads = append(payloads, p)
	}
	code, out, _ := cli(t, "", append([]string{"dryrun", "--at", "1970-01-02T00:00:00Z", "-r", rules}, payloads...)...)
	require.Equal(t, 0, code, out)
	require.Equal(t, 2, strings.Count(out, "throttled: a repeat within the window"), out)
	require.Contains(t, out, `== group "1@c.us" of batch (3 messages)`)
	require.Contains(t, out, "info 3 messages from 1@c.us")
	require.Contains(t, out, "info 3 received in 1 chats, 1 waiting")
}

// TestDryrunRunsDelayedChecks: with --at after a delayed rule's due time,
// its check runs with the conversation as it was then.
func TestDryrunRunsDelayedChecks(t *testing.T) {
	code, out, _ := cli(t, "", "dryrun", "--at", "2023-11-14T23:00:00Z", "-r", example, "../../testdata/cooby/received-chat.json")
	require.Equal(t, 0, code)
	require.Contains(t, out, "matched unanswered-for-30-minutes")
	require.Contains(t, out, "delayed: checked again at 2023-11-14T22:43:20Z")
	require.Contains(t, out, "== ../../testdata/cooby/received-chat.json (unanswered-for-30-minutes after: checked at 2023-11-14T22:43:20Z)")
	require.Contains(t, out, "has waited 30m for a reply: Hello, do you ship to Manchester?")
}

// TestDryrunRunsForEachChatSchedules: `dryrun --at` runs a for_each: chat
// schedule over the chats of the run's payloads, once per chat that acts.
func TestDryrunRunsForEachChatSchedules(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`
rules:
  - name: waiting
    schedule: "@every 5m"
    for_each: chat
    when: chat.awaiting_reply && chat.waiting_for > duration("30m")
    actions: [{log: {message: "{{ chat.id }} waits since {{ chat.awaiting_since }}"}}]
`), 0o644))
	var payloads []string
	for i, c := range []string{"1@c.us", "2@c.us"} {
		p := filepath.Join(dir, fmt.Sprintf("%d.json", i))
		dir := []string{"received", "sent"}[i]
		require.NoError(t, os.WriteFile(p, fmt.Appendf(nil, `{"chat_id":%q,"direction":%q,"message":{"id":"m%d","type":"chat"},"timestamp":"1000"}`, c, dir, i), 0o644))
		payloads = append(payloads, p)
	}
	code, out, _ := cli(t, "", append([]string{"dryrun", "--at", "1970-01-01T02:00:00Z", "-r", rules}, payloads...)...)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "== scheduled waiting (@every 5m), run at 1970-01-01T02:00:00Z for chat 1@c.us")
	require.Contains(t, out, "info 1@c.us waits since 1970-01-01T00:16:40Z")
	require.NotContains(t, out, "for chat 2@c.us", "the team wrote last in chat 2")
}

// TestCheckRefusesTestsNamingNoRule: check exits 1 and says where a test
// names a rule that does not exist.
func TestCheckRefusesTestsNamingNoRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rules:
  - name: delivery-failed
    when: is_error
    actions: [{log: {message: x}}]
tests:
  - name: a failed send
    payload: {direction: sent, message: {is_error: true}}
    expect: [delivery-fialed]
`), 0o644))
	code, out, _ := cli(t, "", "check", path)
	require.Equal(t, 1, code)
	require.Equal(t, path+`:8:14: test "a failed send": expect: no rule is named "delivery-fialed" (did you mean "delivery-failed"?)`+"\n", out)
}

// TestTestCommandScheduledRuns: `switchboard test` runs a for_each: chat
// rule over a case's context, and fails a run: case at a time its
// schedule never fires, naming the run times around it.
func TestTestCommandScheduledRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rules:
  - name: waiting
    schedule: "0 9 * * MON-FRI"
    timezone: Europe/London
    for_each: chat
    when: chat.awaiting_reply
    actions: [{log: {message: "{{ chat.id }}"}}]
tests:
  - name: Monday morning
    run: waiting
    at: 2026-12-07T09:00:00Z
    context: [{chat_id: "1@c.us", direction: received, message: {id: "1", type: chat}, timestamp: "1765000000"}]
    expect: [waiting]
    actions: [{rule: waiting, fields: {message: "1@c.us"}}]
  - name: Saturday lunch
    run: waiting
    at: 2026-12-05T13:17:00Z
    context: [{chat_id: "1@c.us", direction: received, message: {id: "1", type: chat}, timestamp: "1765000000"}]
    expect: [waiting]
`), 0o644))
	code, out, _ := cli(t, "", "test", path)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "PASS  Monday morning")
	require.Contains(t, out, "FAIL  Saturday lunch ("+path+":15)\n      at: 2026-12-05T13:17:00Z is not a run time of \"waiting\" (\"0 9 * * MON-FRI\" in Europe/London): "+
		"the previous is 2026-12-04T09:00:00Z, the next 2026-12-07T09:00:00Z\n")
}

// TestCheckWarnings: an unknown message type is a positioned warning that
// check prints and passes, and that check --strict fails on.
func TestCheckWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`rules:
  - name: files
    when: type == "documnet"
    actions: [{log: {message: x}}]
`), 0o644))
	warning := path + `:3:19: warning: "documnet" is not a known Cooby message type; did you mean document?` + "\n"
	code, out, _ := cli(t, "", "check", path)
	require.Equal(t, 0, code, out)
	require.True(t, strings.HasPrefix(out, warning), out)
	require.Contains(t, out, "ok: 1 rules")

	code, out, _ = cli(t, "", "check", "--strict", path)
	require.Equal(t, 1, code)
	require.Equal(t, warning+"1 warnings (--strict)\n", out)

	code, out, _ = cli(t, "", "check", "--json", path)
	require.Equal(t, 0, code)
	var rep struct {
		OK       bool
		Warnings []struct {
			Line, Column int
			Message      string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.True(t, rep.OK)
	require.Len(t, rep.Warnings, 1)
	require.Equal(t, 3, rep.Warnings[0].Line)
	require.Equal(t, 19, rep.Warnings[0].Column)
}

// TestInitWritesAStarterWhoseTestsPass: init writes a rules file and its
// sample payloads that check and test accept as they are, and refuses to
// overwrite them.
func TestInitWritesAStarterWhoseTestsPass(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "team")
	code, out, errOut := cli(t, "", "init", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "wrote "+filepath.Join(dir, "rules.yaml"))
	rules := filepath.Join(dir, "rules.yaml")
	code, out, _ = cli(t, "", "check", rules)
	require.Equal(t, 0, code, out)
	code, out, _ = cli(t, "", "test", rules)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, " passed, 0 failed\n")
	code, _, _ = cli(t, "", "dryrun", "-r", rules, filepath.Join(dir, "testdata", "cooby"))
	require.Equal(t, 0, code)

	code, _, errOut = cli(t, "", "init", dir)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "these files exist; nothing was written")
	require.Contains(t, errOut, rules)
	code, _, _ = cli(t, "", "init", "--force", dir)
	require.Equal(t, 0, code)
}

// TestDryrunJSONWithShortSecrets: secrets whose values are short or
// common text ("25", "x") are *** where used, and the JSON printed stays
// valid and otherwise exact.
func TestDryrunJSONWithShortSecrets(t *testing.T) {
	t.Setenv("SB_TEST_COUNT", "25")
	t.Setenv("SB_TEST_TOKEN", "x")
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`destinations:
  crm: {kind: http, url: "https://crm.example.com", headers: {Authorization: "Bearer ${SB_TEST_TOKEN}", X-Count: "${SB_TEST_COUNT}"}}
rules:
  - name: a
    when: "true"
    actions: [{http: {destination: crm, url: "/x", body: {text: "{{ text }}"}}}]
`), 0o644))
	code, out, errOut := cli(t, `{"message":{"text":"text 25 x"},"timestamp":"1700000025"}`, "dryrun", "--json", "-r", rules, "-")
	require.Equal(t, 0, code, errOut)
	var rep struct {
		Matched []struct {
			Actions []struct{ Request json.RawMessage }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	req := string(rep.Matched[0].Actions[0].Request)
	require.Contains(t, req, `"Authorization":"Bearer ***"`)
	require.Contains(t, req, `"X-Count":"***"`)
	require.Contains(t, req, `text 25 x`)
}
