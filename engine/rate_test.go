package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

// TestDestinationRates: `rate:` and `burst:` on any destination, Slack's
// default of one a second, `none` to lift it, and positioned errors.
func TestDestinationRates(t *testing.T) {
	rs := load(t, `destinations:
  crm: {kind: http, url: "https://crm.example.com", rate: 100/10s, burst: 20}
  hooks: {kind: http, url: "https://hooks.example.com"}
  slack: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
  slack-free: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/y", rate: none}
  slack-fast: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/z", rate: 30/m, burst: 5}
rules: []
`)
	require.Equal(t, actions.Rate{PerSecond: 10, Burst: 20}, rs.Destinations["crm"].Rate)
	require.False(t, rs.Destinations["hooks"].Rate.Limited())
	require.Equal(t, actions.Rate{PerSecond: 1, Burst: 1}, rs.Destinations["slack"].Rate)
	require.False(t, rs.Destinations["slack-free"].Rate.Limited())
	require.Equal(t, actions.Rate{PerSecond: 0.5, Burst: 5}, rs.Destinations["slack-fast"].Rate)

	for src, want := range map[string]string{
		"destinations:\n  crm: {kind: http, url: \"https://x\", rate: fast}\n":          `rules.yaml:2:45: rate: expected a number of sends per unit, such as 1/s, 30/m or 100/10s (or none), got "fast"`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", rate: 1/week}\n":        `rules.yaml:2:45: rate: expected s, m, h or a duration such as 10s after the /, got "week"`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", rate: 1/s, burst: 0}\n": `rules.yaml:2:57: burst: expected a positive number of sends, got 0`,
		"destinations:\n  crm: {kind: http, url: \"https://x\", burst: 3}\n":            `rules.yaml:2:46: burst: needs a rate: (such as rate: 1/s)`,
	} {
		require.Equal(t, want, loadErr(t, src))
	}
}
