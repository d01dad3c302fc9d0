package app_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

const testDebounce = 100 * time.Millisecond

// watched makes the service reload on file events only (no poll), quickly.
func watched(cfg *app.Config) {
	cfg.ReloadDebounce = testDebounce
	cfg.ReloadPoll = -1
}

func logRule(name string) string {
	return fmt.Sprintf("rules:\n  - name: %s\n    when: \"true\"\n    actions: [{log: {message: %s}}]\n", name, name)
}

// metric reads one sample (name with its labels, as exposed) from /metrics.
func (s *service) metric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	return 0
}

func (s *service) reloads(t *testing.T) float64 {
	return s.metric(t, `switchboard_rules_reloads_total{result="success"}`)
}

func (s *service) status(t *testing.T) app.StatusReport {
	t.Helper()
	var st app.StatusReport
	require.Equal(t, http.StatusOK, s.api(t, http.MethodGet, "/status", &st))
	return st
}

// saveByRename writes content the way editors do: a temporary file renamed
// over the rules file.
func saveByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, path))
}

// expectOneReload waits for a rule named rule to run, then a while more,
// and checks that it took exactly one reload.
func (s *service) expectOneReload(t *testing.T, before float64, rule string) {
	t.Helper()
	waitFor(t, func() bool { return s.app.Rules().Rule(rule) != nil })
	time.Sleep(3 * testDebounce)
	require.Equal(t, before+1, s.reloads(t))
}

func TestReloadOnSaveByRename(t *testing.T) {
	svc := start(t, logRule("a"), watched)
	before := svc.reloads(t)
	v1 := svc.app.Rules().Version
	saveByRename(t, svc.rules, logRule("b"))
	svc.expectOneReload(t, before, "b")

	st := svc.status(t).Rules
	require.True(t, st.OK)
	require.Equal(t, reloadCause, st.Cause)
	require.NotEqual(t, v1, st.Version)
	require.Equal(t, svc.app.Rules().Version, st.Version)
	require.Equal(t, []string{svc.rules}, st.Files)
	require.Equal(t, 1, st.Rules)
	require.Empty(t, st.Errors)
	require.Equal(t, 1.0, svc.metric(t, "switchboard_rules_last_reload_successful"))
	require.Equal(t, 1.0, svc.metric(t, `switchboard_rules_info{version="`+st.Version+`"}`))
}

const reloadCause = "file change"

// TestReloadConfigMapDirectory: --rules is a mounted ConfigMap directory;
// the kubelet's ..data swap is one reload.
func TestReloadConfigMapDirectory(t *testing.T) {
	dir := t.TempDir()
	swap := func(ts, content string) {
		require.NoError(t, os.Mkdir(filepath.Join(dir, ts), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, ts, "rules.yaml"), []byte(content), 0o644))
		require.NoError(t, os.Symlink(ts, filepath.Join(dir, "..data_tmp")))
		require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	}
	swap("..2026_01", logRule("a"))
	require.NoError(t, os.Symlink(filepath.Join("..data", "rules.yaml"), filepath.Join(dir, "rules.yaml")))
	svc := start(t, "", func(cfg *app.Config) {
		watched(cfg)
		cfg.Rules = []string{dir}
	})
	require.NotNil(t, svc.app.Rules().Rule("a"))
	before := svc.reloads(t)
	swap("..2026_02", logRule("b"))
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "..2026_01")))
	svc.expectOneReload(t, before, "b")
}

// TestBrokenSaveKeepsRunningRules: a save that does not load leaves the
// running rules serving; /status and the metrics show every error with its
// position; the next good save recovers.
func TestBrokenSaveKeepsRunningRules(t *testing.T) {
	svc := start(t, logRule("a"), watched)
	running := svc.app.Rules()
	saveByRename(t, svc.rules, "rules:\n  - name: a\n    when: direction == 5\n    actions: [{log: {message: x}}]\n  - name: a\n    when: \"true\"\n    actions: [{log: {message: x}}]\n")
	waitFor(t, func() bool { return !svc.status(t).Rules.OK })
	st := svc.status(t).Rules
	require.Equal(t, []string{
		svc.rules + ":3:21: invalid operation: == (mismatched types string and int): direction is a string, compare it with \"5\"",
		svc.rules + `:5:11: duplicate rule name "a" (first defined at ` + svc.rules + ":2)",
	}, st.Errors)
	require.Equal(t, running.Version, st.Version, "the running version is still shown")
	require.Same(t, running, svc.app.Rules())
	require.Equal(t, 0.0, svc.metric(t, "switchboard_rules_last_reload_successful"))
	require.Equal(t, 2.0, svc.metric(t, "switchboard_rules_last_reload_errors"))
	require.Equal(t, 1.0, svc.metric(t, `switchboard_rules_reloads_total{result="failure"}`))
	require.Positive(t, svc.metric(t, "switchboard_rules_last_reload_timestamp_seconds"))
	require.Contains(t, svc.logs.String(), "rules reload failed; the running rules stay")
	require.Contains(t, svc.logs.String(), "rules.yaml:3:21: invalid operation")

	// Events keep flowing through the running rules.
	status, _ := svc.post(t, []byte(`{"direction":"received","message":{"id":"B1","type":"chat"}}`))
	require.Equal(t, http.StatusAccepted, status)
	waitFor(t, func() bool {
		var ds []app.DeliveryView
		svc.api(t, http.MethodGet, "/api/deliveries", &ds)
		return len(ds) == 1 && ds[0].Version == running.Version && ds[0].Rule == "a"
	})

	saveByRename(t, svc.rules, logRule("fixed"))
	waitFor(t, func() bool { return svc.app.Rules().Rule("fixed") != nil })
	st = svc.status(t).Rules
	require.True(t, st.OK)
	require.Empty(t, st.Errors)
	require.Equal(t, 1.0, svc.metric(t, "switchboard_rules_last_reload_successful"))
	require.Equal(t, 0.0, svc.metric(t, "switchboard_rules_last_reload_errors"))
}

const gatedRules = `rules:
  - name: files
    when: type == "document"
    actions: [{log: {message: x}}]
tests:
  - name: a chat is not a file
    payload: {message: {type: chat}}
    expect: %s
`

// TestFailingTestsGateReload: rules whose tests: fail are refused like
// invalid ones, with the test's position, at reload and at startup, unless
// tests are not required.
func TestFailingTestsGateReload(t *testing.T) {
	svc := start(t, fmt.Sprintf(gatedRules, "[]"), nil)
	running := svc.app.Rules()
	require.NoError(t, os.WriteFile(svc.rules, []byte(fmt.Sprintf(gatedRules, "[files]")), 0o644))
	var st app.ReloadStatus
	require.Equal(t, http.StatusUnprocessableEntity, svc.api(t, http.MethodPost, "/-/reload", &st))
	require.Equal(t, []string{svc.rules + `:6:1: test "a chat is not a file" fails: matched rules: expected [files], got none`}, st.Errors)
	require.Same(t, running, svc.app.Rules())

	// At startup too.
	_, err := app.New(t.Context(), app.Config{Rules: []string{svc.rules}, Data: t.TempDir(), Logger: quietLogger()})
	require.ErrorContains(t, err, `:6:1: test "a chat is not a file" fails`)

	// Unless tests are not required.
	lax := start(t, fmt.Sprintf(gatedRules, "[files]"), func(cfg *app.Config) { cfg.AllowFailingTests = true })
	require.NotNil(t, lax.app.Rules().Rule("files"))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestReloadOnListFileEdit: editing only a list file the rules name, in
// another directory, reloads the rules (the file is watched and part of
// the checksum) and the new list is in force.
func TestReloadOnListFileEdit(t *testing.T) {
	list := filepath.Join(t.TempDir(), "vip.txt")
	require.NoError(t, os.WriteFile(list, []byte("+44 7700 900999\n"), 0o644))
	rules := "lists:\n  vip: {file: " + list + "}\nrules:\n  - name: vip\n    when: phone(sender.phone) in lists.vip\n    actions: [{log: {message: vip}}]\n"
	svc := start(t, rules, watched)
	before, v1 := svc.reloads(t), svc.app.Rules().Version
	saveByRename(t, list, "+44 7700 900999\n+44 7700 900123\n")
	waitFor(t, func() bool { return svc.app.Rules().Version != v1 })
	time.Sleep(3 * testDebounce)
	require.Equal(t, before+1, svc.reloads(t))
	require.Equal(t, []string{list}, svc.status(t).Rules.Named, "/status lists the files the rules name")
}
