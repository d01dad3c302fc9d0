package log_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
	logaction "github.com/switchboard-dev/switchboard/actions/log"
)

// rulesWith is a rules file whose only action, on line 7, is the log action
// written in flow style after "      - log: " (its mapping starts at
// column 14).
func rulesWith(action string) string {
	return `destinations:
  quiet: {kind: log, level: debug}
rules:
  - name: r
    when: "true"
    actions:
      - log: ` + action + "\n"
}

// renderOne renders the only action of rules for a message of text and
// returns its wire form and how it prints.
func renderOne(t *testing.T, rules, text string) (logaction.Entry, string) {
	t.Helper()
	rs := actionstest.Load(t, rules, nil)
	e, _ := actionstest.RenderOne[*logaction.Entry](t, rs, map[string]any{
		"chat_title": "Sarah Brown",
		"direction":  "received",
		"message":    map[string]any{"type": "chat", "text": text},
		"sender":     map[string]any{"phone": "447441369136", "wa_name": "Sarah Brown"},
	})
	out, err := logaction.Kind.Format(e)
	require.NoError(t, err)
	return *e, out
}

func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, rules, want string }{
		{"no message", rulesWith(`{level: info}`), `rules.yaml:7:14: message is required`},
		{"bad level", rulesWith(`{message: hi, level: loud}`), `rules.yaml:7:35: level: "loud" is not one of debug, info, warn, error`},
		{"unknown field", rulesWith(`{mesage: hi}`), `rules.yaml:7:15: unknown field "mesage" (did you mean "message"?)`},
		{"reserved field", rulesWith(`{message: hi, fields: {msg: x}}`), `rules.yaml:7:37: fields: "msg" is written by the logger itself`},
		{"bad field name", rulesWith(`{message: hi, fields: {"a b": x}}`), `rules.yaml:7:37: fields: "a b" is not a field name`},
		{"bad destination level", `destinations:
  d: {kind: log, level: trace}
rules:
  - {name: r, when: "true", actions: [log: {message: hi}]}
`, `rules.yaml:2:25: level: "trace" is not one of debug, info, warn, error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			actionstest.RequireLoadError(t, tt.rules, nil, tt.want)
		})
	}
}

func TestRender(t *testing.T) {
	e, out := renderOne(t, rulesWith(`{message: "{{ sender.wa_name }} wrote", fields: {text: "{{ text }}", chat: "{{ chat_title }}", empty: ""}}`), "hello there")
	require.Equal(t, logaction.Entry{
		Level:   "info",
		Message: "Sarah Brown wrote",
		Fields:  map[string]string{"text": "hello there", "chat": "Sarah Brown", "empty": ""},
	}, e)
	require.Equal(t, `info Sarah Brown wrote chat="Sarah Brown" empty="" text="hello there"`, out)
}

func TestLevels(t *testing.T) {
	e, out := renderOne(t, rulesWith(`{message: hi, level: warn}`), "")
	require.Equal(t, "warn", e.Level)
	require.Equal(t, "warn hi", out)

	e, _ = renderOne(t, rulesWith(`{destination: quiet, message: hi}`), "")
	require.Equal(t, "debug", e.Level, "the destination's level is the default")

	e, _ = renderOne(t, rulesWith(`{destination: quiet, message: hi, level: error}`), "")
	require.Equal(t, "error", e.Level)
}

// TestFormatIsOneLine: event text cannot forge a second log line.
func TestFormatIsOneLine(t *testing.T) {
	e, out := renderOne(t, rulesWith(`{message: "got {{ text }}", fields: {t: "{{ text }}"}}`), "x\ninfo forged=1 \u2028 \"q\"")
	require.Equal(t, "got x\ninfo forged=1 \u2028 \"q\"", e.Message)
	require.Equal(t, `info "got x\ninfo forged=1 \u2028 \"q\"" t="x\ninfo forged=1 \u2028 \"q\""`, out)
}
