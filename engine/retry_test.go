package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

// TestDestinationRetry: `retry:` on any destination, either key optional,
// and positioned errors for what is not a schedule or an age.
func TestDestinationRetry(t *testing.T) {
	rs := load(t, `destinations:
  crm: {kind: http, url: "https://crm.example.com", retry: {schedule: [5s, 1m, 10m], max_age: 24h}}
  ops: {kind: http, url: "https://ops.example.com", retry: {max_age: 90m}}
  hooks: {kind: http, url: "https://hooks.example.com"}
rules: []
`)
	require.Equal(t, actions.Retry{Schedule: []time.Duration{5 * time.Second, time.Minute, 10 * time.Minute}, MaxAge: 24 * time.Hour}, rs.Destinations["crm"].Retry)
	require.Equal(t, actions.Retry{MaxAge: 90 * time.Minute}, rs.Destinations["ops"].Retry)
	require.True(t, rs.Destinations["hooks"].Retry.IsZero())

	for src, want := range map[string]string{
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: 3}\n":                      `rules.yaml:2:46: retry: expected a mapping such as {schedule: [5s, 1m, 10m], max_age: 24h}, got "3"`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: {schedule: [5s, soon]}}\n": `rules.yaml:2:62: retry schedule: expected a duration such as 5s, 10m or 2h, got "soon"`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: {schedule: []}}\n":         `rules.yaml:2:57: retry: schedule: expected at least one delay, such as [5s, 1m, 10m]`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: {schedule: [1000h]}}\n":    `rules.yaml:2:58: retry schedule: a delay of at most 168h (a week), got 1000h`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: {max_age: forever}}\n":     `rules.yaml:2:56: retry: max_age: expected a duration such as 24h or 90m, got "forever"`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", retry: {scheduel: [1s]}}\n":       `rules.yaml:2:47: retry: unknown key "scheduel" (the keys are schedule and max_age); did you mean "schedule"?`,
	} {
		require.Equal(t, want, loadErr(t, src), src)
	}
}
