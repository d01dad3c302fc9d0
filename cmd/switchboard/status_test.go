package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// server runs an in-process switchboard on rules until the test ends and
// returns its base URL and admin token.
func server(t *testing.T, rules string) (base, rulesPath string, a *app.App) {
	t.Helper()
	dir := t.TempDir()
	rulesPath = filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rulesPath, []byte(rules), 0o644))
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		Rules: []string{rulesPath}, Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Tokens: []string{"cli-test-token"}, AdminToken: "cli-admin-token",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReloadPoll: -1,
	})
	require.NoError(t, err)
	addr, err := a.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return "http://" + addr.String(), rulesPath, a
}

func postEvent(t *testing.T, a *app.App, base, body string) {
	t.Helper()
	resp, err := http.Post(a.IngestURL(base), "application/json", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
}

const cliRules = "rules:\n  - name: hello\n    when: direction == \"received\"\n    actions: [{log: {message: \"hello {{ message.id }}\"}}]\n"

func TestStatusCommand(t *testing.T) {
	base, path, a := server(t, cliRules)
	code, out, errOut := cli(t, "", "status", "--server", base, "--data", t.TempDir())
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "version      "+a.Rules().Version+"\n")
	require.Contains(t, out, "files        "+path+"\n")
	require.Contains(t, out, "rules        1 rules, 0 destinations, 0 tests\n")
	require.Contains(t, out, "last reload  ok at ")

	// A failed reload: exit 1, the errors with their positions.
	require.NoError(t, os.WriteFile(path, []byte("rules:\n  - name: a\n    when: direction == 5\n    actions: [{log: {message: x}}]\n"), 0o644))
	_, err := a.Reload(context.Background(), "test")
	require.Error(t, err)
	code, out, _ = cli(t, "", "status", "--server", base, "--data", t.TempDir())
	require.Equal(t, 1, code)
	require.Contains(t, out, "last reload  FAILED (1 errors; the rules above still run)")
	require.Contains(t, out, "errors of the last reload:\n  "+path+":3:21: invalid operation")

	code, _, errOut = cli(t, "", "status", "--server", "http://127.0.0.1:1")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "contacting http://127.0.0.1:1")
}

func TestDiffCommand(t *testing.T) {
	base, _, a := server(t, cliRules)
	postEvent(t, a, base, `{"direction":"received","chat_title":"Acme","message":{"id":"D1","type":"chat"}}`)
	require.Eventually(t, func() bool {
		var st app.StatusReport
		c := client{server: base, token: "cli-admin-token"}
		return c.send(context.Background(), http.MethodGet, "/status", nil, nil, &st, false) == nil && st.Queue.Cursor == 1
	}, 30*time.Second, 20*time.Millisecond)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(
		"rules:\n  - name: hello\n    when: direction == \"received\"\n    actions: [{log: {message: \"hi {{ message.id }}\"}}]\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), []byte(
		"rules:\n  - name: extra\n    when: \"true\"\n    actions: [{log: {message: extra}}]\n"), 0o644))
	code, out, errOut := cli(t, "", "diff", "--rules", dir, "--since", "1h", "--server", base, "--admin-token", "cli-admin-token")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, out, "1 events received since ")
	require.Contains(t, out, ": 1 would change\n")
	require.Contains(t, out, `: received chat D1 in "Acme"`)
	require.Contains(t, out, "  + extra action 1: log\n")
	require.Contains(t, out, "  ~ hello action 1: log\n")
	require.Contains(t, out, `    - `)
	require.Contains(t, out, `hello D1`)
	require.Contains(t, out, `hi D1`)

	// The running rules themselves: nothing changes.
	same := filepath.Join(t.TempDir(), "same.yaml")
	require.NoError(t, os.WriteFile(same, []byte(cliRules), 0o644))
	code, out, _ = cli(t, "", "diff", "--rules", same, "--server", base, "--admin-token", "cli-admin-token")
	require.Equal(t, 0, code)
	require.Contains(t, out, ": 0 would change\n")

	// Rules that do not load: every error with its position, exit 2.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rules:\n  - name: a\n    when: direction == 5\n    actions: [{log: {message: x}}]\n"), 0o644))
	code, _, errOut = cli(t, "", "diff", "--rules", bad, "--server", base, "--admin-token", "cli-admin-token")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "the new rules do not load:\n"+bad+":3:21: invalid operation")

	code, _, errOut = cli(t, "", "diff", "--server", base)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "the new rules are required (-r NEW, or NEW as an argument)")
}

func TestQuarantineCommand(t *testing.T) {
	base, _, a := server(t, cliRules)
	resp, err := http.Post(a.IngestURL(base), "application/json", bytes.NewReader([]byte(`{"direction": 5}`)))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	flags := []string{"--server", base, "--admin-token", "cli-admin-token"}

	code, out, errOut := cli(t, "", append([]string{"quarantine", "list"}, flags...)...)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `payload field "direction": expected a string, got number`)
	code, out, _ = cli(t, "", append([]string{"quarantine", "show", "1"}, flags...)...)
	require.Equal(t, 0, code)
	require.Equal(t, `{"direction": 5}`, out)
	code, _, errOut = cli(t, "", append([]string{"quarantine", "replay", "1"}, flags...)...)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "still not a Cooby payload")
}
