package engine_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

// TestNoGoNamesInMessages loads many broken rules files (every file in
// testdata/bad and a list of broken conditions, templates and schedules)
// and requires that no message names the program's internals: a rule
// author never sees engine.ChatState, strconv.Atoi or yamlx.
func TestNoGoNamesInMessages(t *testing.T) {
	var msgs []string
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		_, err := engine.LoadFiles(opts(), f)
		require.Error(t, err, f)
		msgs = append(msgs, err.Error())
	}
	conditions := []string{
		`chat.wating_for > duration("1m")`, `chat == "x"`, `chat.waiting_for > "30m"`, `chat.last_sender.nme == "x"`,
		`digest.recieved > 0`, `digest == 1`, `group[0].txt == "x"`, `group == "x"`, `message == 1`, `message.error_code == 404`,
		`sender == "x"`, `sender.phone in participants`, `participants[0].wa_nme == "x"`, `participants == 1`,
		`time == 1`, `now() + 1 > time`, `timestamp > 1`, `direciton == "sent"`, `direction = "sent"`, `(text == "x"`,
		`text matches "("`, `len(chat) > 1`, `chat.received_count == "3"`, `is_group == "true"`, `text.foo == 1`,
		`lower(sender) == "x"`, `icontains(chat, "x")`, `phone(participants)`, `digest.awaiting[0].idd == "x"`,
		`map(participants, .phone) == "x"`, `filter(group, .sender.nam == "x")`, `1 +`, `"unterminated`,
	}
	for _, c := range conditions {
		msgs = append(msgs, loadErrQuoted(t, fmt.Sprintf("rules:\n  - name: a\n    when: %q\n    actions: [{log: {message: x}}]\n", c)))
		// As a template, some of them are fine: only messages count.
		src := fmt.Sprintf("rules:\n  - name: a\n    when: true\n    actions: [{log: {message: %q}}]\n", "{{ "+c+" }}")
		if _, err := engine.Load(opts(), engine.Source{Name: "rules.yaml", Data: []byte(src)}); err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	for _, s := range []string{"0 9 * *", "0 9 * * MON-FRY", "70 9 * * *", "0 9 * JUNE *", "@dayly", "@every 5x", "0 9 * * 1-9", "*/0 * * * *", "a b c d e", "1-2-3 * * * *", "1/2/3 * * * *"} {
		msgs = append(msgs, loadErrQuoted(t, fmt.Sprintf("rules:\n  - name: a\n    schedule: %q\n    when: true\n    actions: [{log: {message: x}}]\n", s)))
	}
	msgs = append(msgs, loadErrQuoted(t, "timezone: Mars/Base\nrules: []\n"))
	for _, m := range msgs {
		for _, bad := range []string{"engine.", "strconv.", "yamlx.", "reflect.", "interface {}", "[]any", "time.Duration", "time.Time"} {
			require.NotContains(t, m, bad)
		}
	}
}

func loadErrQuoted(t *testing.T, src string) string {
	t.Helper()
	_, err := engine.Load(opts(), engine.Source{Name: "rules.yaml", Data: []byte(src)})
	require.Error(t, err, src)
	require.False(t, strings.Contains(err.Error(), "rules.yaml:0:"), "no position: %s", err)
	return err.Error()
}
