package engine_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
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

// TestSecretsAreMaskedWhereUsedOnly: a destination's ${VAR}s print as ***
// where they are used and nowhere else, whatever their values: a short
// secret ("x", "25") or a default ("2") no longer mangles the rest of a
// printed request, which stays valid JSON.
func TestSecretsAreMaskedWhereUsedOnly(t *testing.T) {
	env := map[string]string{"CRM_TOKEN": "x", "COUNT": "25"}
	rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }},
		engine.Source{Name: "rules.yaml", Data: []byte(`destinations:
  crm:
    kind: http
    url: https://crm.example.com/api
    headers: {Authorization: "Bearer ${CRM_TOKEN}", X-Api-Version: "${CRM_API_VERSION:-2}", X-Count: "${COUNT}"}
rules:
  - name: a
    when: "true"
    actions: [{http: {destination: crm, url: "/texts/25", body: {text: "{{ text }}", at: "2023-11-14T22:13:20Z"}}}]
`)})
	require.NoError(t, err)
	ev, err := engine.Decode([]byte(`{"message":{"text":"some text x 25"}}`))
	require.NoError(t, err)
	p, err := rs.Plan(ev, engine.PlanOptions{})
	require.NoError(t, err)
	wire, exact, err := rs.WireMasked(p.Matches[0].Actions[0].Request)
	require.NoError(t, err)
	require.True(t, exact)
	data, err := actions.JSON(wire)
	require.NoError(t, err)
	require.True(t, json.Valid(data), "%s", data)
	s := string(data)
	require.Contains(t, s, `"Authorization":"Bearer ***"`)
	require.Contains(t, s, `"X-Api-Version":"***"`)
	require.Contains(t, s, `"X-Count":"***"`)
	require.Contains(t, s, `https://crm.example.com/api/texts/25`)
	require.Contains(t, s, `some text x 25`)
	require.Contains(t, s, `2023-11-14T22:13:20Z`)
	require.Equal(t, "text", rs.Redact("text"), "a one-letter secret is not searched for in text")
}
