package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSchedulesExample: the example's weekday digest, listed from a
// Saturday afternoon: the next runs are Monday on, at 09:00 London time.
func TestSchedulesExample(t *testing.T) {
	code, out, errOut := cli(t, "", "schedules", "-r", example, "--from", "2026-12-05T13:17:00Z", "--count", "3")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, `weekday-morning-digest (../../rules.example.yaml:`+lineOf(t, example, "  - name: weekday-morning-digest")+`)
  schedule: 0 9 * * MON-FRI
  timezone: Europe/London
  missed:   run
  next runs after 2026-12-05T13:17:00Z:
    Mon 2026-12-07 09:00:00 +00:00 GMT  [2026-12-07T09:00:00Z]
    Tue 2026-12-08 09:00:00 +00:00 GMT  [2026-12-08T09:00:00Z]
    Wed 2026-12-09 09:00:00 +00:00 GMT  [2026-12-09T09:00:00Z]
`, out)
}

// lineOf returns the number of the first line of file that is line, so
// that expectations do not break when the example grows.
func lineOf(t *testing.T, file, line string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	for i, l := range strings.Split(string(data), "\n") {
		if l == line {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%s has no line %q", file, line)
	return ""
}

// TestSchedulesKinds: for_each, disabled rules, @every, the default
// count, JSON, and rules without schedules left out.
func TestSchedulesKinds(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`
rules:
  - name: on-messages
    when: direction == "received"
    actions: [{log: {message: "m"}}]
  - name: waiting
    schedule: "@every 5m"
    for_each: chat
    when: chat.awaiting_reply
    actions: [{log: {message: "w"}}]
  - name: summer-report
    enabled: false
    schedule: "30 8 * * *"
    timezone: America/New_York
    missed: skip
    when: "true"
    actions: [{log: {message: "r"}}]
`), 0o644))
	code, out, errOut := cli(t, "", "schedules", "-r", rules, "--from", "2026-07-01T12:01:00Z")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "on-messages")
	require.Contains(t, out, "waiting ("+rules+":6)\n  schedule: @every 5m\n  timezone: UTC\n  for_each: chat\n")
	require.Contains(t, out, "    Wed 2026-07-01 12:05:00 +00:00 UTC  [2026-07-01T12:05:00Z]\n")
	require.Contains(t, out, "  timezone: America/New_York\n  missed:   skip\n  disabled: the service does not run it (enabled: false)\n")
	require.Contains(t, out, "    Wed 2026-07-01 08:30:00 -04:00 EDT  [2026-07-01T12:30:00Z]\n")
	require.Equal(t, 10, strings.Count(out, "\n    "), "5 runs each by default:\n%s", out)

	code, out, errOut = cli(t, "", "schedules", "--json", "--count", "2", "-r", rules, "--from", "2026-07-01T12:01:00Z")
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	var rep struct {
		Rule, Schedule, Timezone, Missed string
		ForEach                          string `json:"for_each"`
		Disabled                         bool
		Next                             []string
	}
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &rep))
	require.Equal(t, "summer-report", rep.Rule)
	require.Equal(t, "America/New_York", rep.Timezone)
	require.True(t, rep.Disabled)
	require.Equal(t, []string{"2026-07-01T08:30:00-04:00", "2026-07-02T08:30:00-04:00"}, rep.Next)
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rep))
	require.Equal(t, "chat", rep.ForEach)
}

func TestSchedulesErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--from", "x"}, 2, `switchboard schedules: --from: expected an RFC 3339 time such as 2026-01-02T09:00:00Z, got "x"`},
		{[]string{"--from", "2026-12-05"}, 2, `--from: expected an RFC 3339 time such as 2026-01-02T09:00:00Z, got "2026-12-05"`},
		{[]string{"--count", "0"}, 2, `switchboard schedules: --count: expected a number from 1 to 1000, got "0"`},
		{[]string{"--count", "many"}, 2, `--count: expected a number from 1 to 1000, got "many"`},
		{[]string{"extra.yaml"}, 1, "extra.yaml: no such file"}, // an argument is a rules file too
		{[]string{"-r", "does-not-exist.yaml"}, 1, "does-not-exist.yaml"},
	}
	for _, tc := range tests {
		args := append([]string{"schedules", "-r", example}, tc.args...)
		if tc.code == 1 {
			args = append([]string{"schedules"}, tc.args...)
		}
		code, out, errOut := cli(t, "", args...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.err, "%v", tc.args)
		require.Empty(t, out)
	}
	code, _, errOut := cli(t, "", "schedules")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "Usage: switchboard schedules")
}
