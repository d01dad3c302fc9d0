package engine_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

// TestOnDeadLetter: on_dead_letter: names a destination, alone or with
// every:; what it names must exist and be able to carry a summary.
func TestOnDeadLetter(t *testing.T) {
	const dests = "destinations:\n  ops: {kind: slack, webhook_url: \"https://hooks.slack.com/services/T/B/x\"}\n"
	rs := load(t, dests+"on_dead_letter: ops\nrules: []\n")
	require.Equal(t, "ops", rs.OnDeadLetter.Destination)
	require.Equal(t, engine.DefaultAlertEvery, rs.OnDeadLetter.Every)
	require.Equal(t, 3, rs.OnDeadLetter.Line)

	rs = load(t, dests+"on_dead_letter: {destination: ops, every: 1m}\nrules: []\n")
	require.Equal(t, time.Minute, rs.OnDeadLetter.Every)
	require.Nil(t, load(t, dests+"rules: []\n").OnDeadLetter)

	for src, want := range map[string]string{
		dests + "on_dead_letter: opz\n":                              `rules.yaml:3:17: on_dead_letter: unknown destination "opz" (did you mean "ops"?)`,
		dests + "on_dead_letter: {destination: ops, every: often}\n": `rules.yaml:3:43: on_dead_letter: every: expected a duration of at least 1s, such as 15m, got "often"`,
		dests + "on_dead_letter: {destination: ops, evry: 1m}\n":     `rules.yaml:3:36: on_dead_letter: unknown key "evry" (the keys are destination and every); did you mean "every"?`,
		dests + "on_dead_letter: {every: 1m}\n":                      `rules.yaml:3:1: on_dead_letter: missing destination (such as on_dead_letter: {destination: ops, every: 15m})`,
		dests + "on_dead_letter: [ops]\n":                            `rules.yaml:3:17: on_dead_letter: expected a destination's name or {destination: NAME, every: 15m}, got a list`,
	} {
		require.Equal(t, want, loadErr(t, src), src)
	}
}
