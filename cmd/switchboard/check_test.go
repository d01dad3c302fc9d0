package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// ruleSetDir writes a rules directory whose rules.yaml names a tests file
// beside it, a list file and a payload in other folders, as a team lays
// them out; failing makes one test fail.
func ruleSetDir(t *testing.T, failing bool) (dir, rules string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "rules")
	for _, d := range []string{dir, filepath.Join(root, "lists"), filepath.Join(root, "payloads")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	expect := "[vip]"
	if failing {
		expect = "[]"
	}
	files := map[string]string{
		filepath.Join(dir, "rules.yaml"): `lists:
  vip: {file: ../lists/vip.txt}
rules:
  - name: vip
    when: phone(sender.phone) in lists.vip
    actions: [{log: {message: "VIP {{ sender.wa_name }}"}}]
tests: rules.tests.yaml
`,
		filepath.Join(dir, "rules.tests.yaml"): `- name: a VIP writes
  payload: ../payloads/vip.json
  expect: ` + expect + "\n",
		filepath.Join(root, "lists", "vip.txt"):     "+44 7700 900999\n",
		filepath.Join(root, "payloads", "vip.json"): `{"direction": "received", "sender": {"phone": "447700900999", "wa_name": "Ann"}, "message": {"id": "1", "type": "chat"}, "timestamp": "1700000000"}`,
	}
	for p, c := range files {
		require.NoError(t, os.WriteFile(p, []byte(c), 0o644))
	}
	return dir, filepath.Join(dir, "rules.yaml")
}

// TestCheckIsWhatAReloadTakes: `check` runs the rules' tests and builds the
// senders as `serve` does at startup and on reload, over the same files
// (a tests file in the rules directory, a list and a payload elsewhere):
// it refuses what the service refuses, with the same lines, and passes
// what it takes. --no-tests skips the tests.
func TestCheckIsWhatAReloadTakes(t *testing.T) {
	for _, failing := range []bool{false, true} {
		dir, rules := ruleSetDir(t, failing)
		code, out, errOut := cli(t, "", "check", dir)
		_, serveErr := app.New(context.Background(), app.Config{Rules: []string{dir}, Addr: "127.0.0.1:0",
			Data: filepath.Join(t.TempDir(), "data"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReloadPoll: -1, NoWatch: true})
		if !failing {
			require.Equal(t, 0, code, out+errOut)
			require.Contains(t, out, "ok: 1 rules, 0 destinations, 1 tests passed")
			require.NoError(t, serveErr)
			continue
		}
		require.Equal(t, 1, code)
		tests := filepath.Join(dir, "rules.tests.yaml")
		require.Equal(t, tests+`:1:1: test "a VIP writes" fails: matched rules: expected none, got [vip]`+"\n", out)
		require.Error(t, serveErr)
		require.Equal(t, strings.TrimSuffix(out, "\n"), serveErr.Error(), "check and serve say the same")

		code, out, _ = cli(t, "", "check", "--no-tests", "-r", rules)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "1 tests not run (--no-tests)")
	}
}

// TestEveryCommandTakesRulesBothWays: -r FILE, --rules FILE and (where the
// arguments are nothing else) FILE name the rules alike.
func TestEveryCommandTakesRulesBothWays(t *testing.T) {
	for _, args := range [][]string{
		{"check", example}, {"check", "-r", example}, {"check", "--rules", example},
		{"test", example}, {"test", "-r", example}, {"test", "--rules", example},
		{"schedules", example}, {"schedules", "-r", example}, {"schedules", "--rules", example},
		{"dryrun", "-r", example, "../../testdata/cooby/received-chat.json"},
		{"dryrun", "--rules", example, "../../testdata/cooby/received-chat.json"},
	} {
		code, out, errOut := cli(t, "", args...)
		require.Equal(t, 0, code, "%v: %s%s", args, out, errOut)
	}
	// serve, diff and notify-test print their usage with the same flags.
	for _, cmd := range []string{"serve", "diff", "notify-test", "check", "test", "schedules", "dryrun"} {
		_, _, errOut := cli(t, "", cmd, "--help")
		require.Contains(t, errOut, "  -r value\n    \tsame as --rules", cmd)
		require.Contains(t, errOut, "  -rules value\n", cmd)
	}
}

// TestDiffSendsTheFilesTheRulesName: the server reads none of the
// client's files, so diff sends the tests file, the list and the payload
// the new rules name with them; their failing tests are reported.
func TestDiffSendsTheFilesTheRulesName(t *testing.T) {
	base, _, _ := server(t, cliRules)
	for _, failing := range []bool{false, true} {
		dir, _ := ruleSetDir(t, failing)
		code, out, errOut := cli(t, "", "diff", dir, "--server", base, "--admin-token", "cli-admin-token")
		require.Equal(t, 0, code, out+errOut)
		require.Contains(t, out, "0 would change")
		if failing {
			require.Contains(t, out, "warning: the new rules' tests fail, so a reload would refuse them:\n  "+
				filepath.Join(dir, "rules.tests.yaml")+`:1:1: test "a VIP writes" fails: matched rules: expected none, got [vip]`)
		} else {
			require.NotContains(t, out, "warning")
		}
	}
}

// TestActionsAreNumberedAlikeEverywhere: one action is "action 2" with its
// name in dryrun, in deliveries (text and JSON), in diff and in a failing
// test, never "1:log" or "action 1" in one place and "action 2" in another.
func TestActionsAreNumberedAlikeEverywhere(t *testing.T) {
	rules := `rules:
  - name: hello
    when: direction == "received"
    actions:
      - log: {message: "first {{ message.id }}"}
      - name: audit
        log: {message: "audit {{ message.id }}"}
`
	base, path, a := server(t, rules)
	payload := `{"direction":"received","chat_title":"Acme","message":{"id":"D1","type":"chat"}}`
	postEvent(t, a, base, payload)

	_, out, _ := cli(t, payload, "dryrun", "-r", path, "-")
	require.Contains(t, out, "  action 1: log\n")
	require.Contains(t, out, "  action 2 \"audit\": log\n")

	require.Eventually(t, func() bool {
		_, out, _ = cli(t, "", "deliveries", "--server", base, "--admin-token", "cli-admin-token", "--state", "done")
		return strings.Count(out, "\n") == 3
	}, 30*time.Second, 20*time.Millisecond)
	require.Regexp(t, `hello\s+action 2 "audit": log\s`, out)
	require.Regexp(t, `hello\s+action 1: log\s`, out)
	_, out, _ = cli(t, "", "deliveries", "--server", base, "--admin-token", "cli-admin-token", "--json")
	var ds []struct {
		Action     int    `json:"action"`
		ActionName string `json:"action_name"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &ds))
	require.ElementsMatch(t, []any{1, 2}, []any{ds[0].Action, ds[1].Action})
	for _, d := range ds {
		if d.Action == 2 {
			require.Equal(t, "audit", d.ActionName)
		}
	}

	next := filepath.Join(t.TempDir(), "next.yaml")
	require.NoError(t, os.WriteFile(next, []byte(strings.Replace(rules, "audit {{", "audited {{", 1)), 0o644))
	_, out, _ = cli(t, "", "diff", next, "--server", base, "--admin-token", "cli-admin-token")
	require.Contains(t, out, "  ~ hello action 2 \"audit\": log\n")
}

// TestRulesFromTheEnvironment: SWITCHBOARD_RULES gives serve's and diff's
// rules only when neither -r, --rules nor an argument does.
func TestRulesFromTheEnvironment(t *testing.T) {
	t.Setenv("SWITCHBOARD_RULES", "env-a.yaml,env-b.yaml")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"env-a.yaml", "env-b.yaml"}},
		{[]string{"-r", "flag.yaml"}, []string{"flag.yaml"}},
		{[]string{"--rules", "flag.yaml"}, []string{"flag.yaml"}},
		{[]string{"arg.yaml"}, []string{"arg.yaml"}},
		{[]string{"-r", "flag.yaml", "arg.yaml"}, []string{"flag.yaml", "arg.yaml"}},
	} {
		fs := newFlags(&stdio{err: io.Discard}, "serve", "", "")
		r := addRulesFlag(fs, "rules")
		pos, err := parseFlags(fs, tc.args)
		require.NoError(t, err)
		r.setArgs(fs, pos)
		require.NoError(t, flagsFromEnv(fs, "SWITCHBOARD_"))
		require.Equal(t, tc.want, []string(r.paths), "%v", tc.args)
	}
}

// TestDryrunSaysWhichTimeItUsed: each report says what now() was: --at,
// the payload's own time (as in tests), or the current time for a payload
// without one.
func TestDryrunSaysWhichTimeItUsed(t *testing.T) {
	_, out, _ := cli(t, "", "dryrun", "-r", example, "--at", "2026-01-02T09:00:00Z", "../../testdata/cooby/received-chat.json")
	require.Contains(t, out, "evaluated at 2026-01-02T09:00:00Z (--at)\n")
	_, out, _ = cli(t, "", "dryrun", "-r", example, "../../testdata/cooby/received-chat.json")
	require.Contains(t, out, "evaluated at 2023-11-14T22:13:20Z, the payload's own time (--at sets another)\n")
	_, out, _ = cli(t, `{"direction":"received","message":{"id":"x","type":"chat"}}`, "dryrun", "-r", example, "-")
	require.Contains(t, out, ", the current time (the payload has no timestamp)\n")
}

// TestCheckPrintsTheGoldens: `check` prints, for every broken file of
// engine/testdata/bad, exactly its golden file: the message, line and
// column a user sees are the ones the goldens pin.
func TestCheckPrintsTheGoldens(t *testing.T) {
	files, err := filepath.Glob("../../engine/testdata/bad/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".golden")
		require.NoError(t, err)
		code, out, errOut := cli(t, "", "check", f)
		require.Equal(t, 1, code, "%s: %s", f, errOut)
		require.Equal(t, strings.ReplaceAll(string(want), "testdata/bad/", "../../engine/testdata/bad/"), out, f)
	}
}

// TestDiffNeverSendsAKeyFile: diff sends the files the rules name, but not
// a key file a destination names.
func TestDiffNeverSendsAKeyFile(t *testing.T) {
	dir, rules := ruleSetDir(t, false)
	key := filepath.Join(dir, "..", "sa.json")
	require.NoError(t, os.WriteFile(key, []byte(`{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----secret"}`), 0o600))
	data, err := os.ReadFile(rules)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rules, append([]byte("destinations:\n  sheet: {kind: sheets, credentials_file: ../sa.json, spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: A1}\n"), data...), 0o644))
	req, err := diffRequest([]string{dir})
	require.NoError(t, err)
	var named []string
	for _, f := range req.Named {
		named = append(named, filepath.Base(f.Name))
		require.NotContains(t, f.Content, "PRIVATE KEY")
	}
	require.ElementsMatch(t, []string{"vip.txt", "vip.json"}, named, "the list and the payload, not the key")
}
