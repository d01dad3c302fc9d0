package engine_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
)

// TestErrorsNeverPrintAnEnvValue: a value from ${ENV} that a kind refuses
// is not quoted by the error, whole or cut: an address longer than 80
// bytes is cut by the kind's message before the engine sees it, and no
// piece of it remains; a one-letter secret is hidden where it stands alone
// without mangling the words around it.
func TestErrorsNeverPrintAnEnvValue(t *testing.T) {
	long := strings.Repeat("s3cr3t-", 15) + "not-an-address" // 119 bytes
	env := map[string]string{"FROM": long, "HOST": "x", "PORT": "ab"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src := `destinations:
  mail: {kind: email, smtp: "smtp.example.com:587", from: "${FROM}", to: [a@example.com]}
  other: {kind: email, host: "${HOST}", port: "${PORT}", from: a@example.com}
rules: []
`
	_, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: lookup}, engine.Source{Name: "rules.yaml", Data: []byte(src)})
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "rules.yaml:2:")
	for i := 0; i+8 <= len(long); i++ {
		require.NotContains(t, msg, long[i:i+8], "a piece of the secret at %d", i)
	}
	require.NotContains(t, msg, `"x"`)
	require.NotContains(t, msg, `"ab"`)
	require.Contains(t, msg, "expected", "words that hold the short secrets are left alone")
	t.Log(msg)
}

// TestScrubErrorPieces: what is left of a cut secret, its start or its
// end, goes; a common start shorter than a piece ("https://") stays.
func TestScrubErrorPieces(t *testing.T) {
	secret := "https://hooks.example.com/services/T000/B000/0123456789abcdef"
	for msg, want := range map[string]string{
		`url "https://hooks.example.com/services/T0..." is not valid`: `url "***..." is not valid`,
		`...B000/0123456789abcdef" is refused`:                        `...***" is refused`,
		`webhook_url must start with https://`:                        `webhook_url must start with https://`,
		`got ` + secret + ` twice: ` + secret:                         `got *** twice: ***`,
	} {
		require.Equal(t, want, engine.ScrubError(msg, map[string]string{"URL": secret}), msg)
	}
}
