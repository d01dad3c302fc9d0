package builtin_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/builtin"
)

// TestNoticesOfEveryKind: every registered kind that can carry a notice
// (on_dead_letter:'s summary) renders one, with hostile text in its
// reasons, to a request its Wire accepts, holding no secret; a kind that
// cannot is refused as an on_dead_letter: destination at load.
func TestNoticesOfEveryKind(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(builtin.Kinds())) {
		t.Run(name, func(t *testing.T) {
			fx, ok := sharedFixtures[name]
			require.True(t, ok, "kind %s has no shared fixture", name)
			kind := builtin.Kinds()[name]
			env := map[string]string{"SECRET": secret, "BASE": "http://127.0.0.1:9"}
			if name == "sheets" {
				env["SA_KEY"] = serviceAccountKey(t, env["BASE"])
			}
			dest := fx.dest
			if name == "email" {
				// Without to: recipients there is nobody to tell.
				rules := "destinations:\n  d: " + dest + "\non_dead_letter: d\nrules: []\n"
				_, err := actionstest.TryLoad(rules, env)
				require.ErrorContains(t, err, `on_dead_letter: destination "d" cannot carry a summary: email: the destination has no to: recipients`)
				dest = strings.TrimSuffix(dest, "}") + ", to: [ops@example.com]}"
			}
			rules := "destinations:\n  d: " + dest + "\non_dead_letter: d\nrules: []\n"
			if !actions.CanNotify(kind) {
				_, err := actionstest.TryLoad(rules, env)
				require.ErrorContains(t, err, "cannot send a summary")
				return
			}
			rs := actionstest.Load(t, rules, env)
			require.Equal(t, "d", rs.OnDeadLetter.Destination)
			for _, text := range actionstest.Hostile {
				n := actions.Notice{Type: "dead_letters", Subject: "Switchboard: 3 new dead letters", Count: 3,
					Text: "- d, rule r: 3; last reason: " + strings.ToValidUTF8(text, "\uFFFD"), From: time.Unix(1, 0), To: time.Unix(2, 0)}
				req, err := actions.NoticeRequest(kind, rs.Destinations["d"].Config, n)
				require.NoError(t, err)
				req.Kind, req.Destination, req.Key = name, "d", "dead_letters:2"
				require.NotContains(t, string(req.Body), secret, "the notice holds no secret")
				_, err = rs.Wire(req)
				require.NoError(t, err, "the kind's Wire takes its notice")
			}
		})
	}
}
