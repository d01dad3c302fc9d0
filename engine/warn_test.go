package engine_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnknownTypeIsAWarning(t *testing.T) {
	rs := load(t, "rules:\n  - name: a\n    when: type == \"documnet\" || message.type in [\"pdf\", \"imgae\"] || \"Chat\" != chat.last_type\n    actions: [{log: {message: x}}]\n  - name: b\n    when: 'direction == \"received\" && type == \"vidoe\"'\n    actions: [{log: {message: x}}]\n  - name: c\n    when: type == \"xlsx\" && text == \"documnet\"\n    actions: [{log: {message: x}}]\n")
	var got []string
	for _, w := range rs.Warnings {
		got = append(got, w.Error())
	}
	require.Equal(t, []string{
		`rules.yaml:3:19: "documnet" is not a known Cooby message type; did you mean document?`,
		`rules.yaml:3:57: "imgae" is not a known Cooby message type; did you mean image?`,
		`rules.yaml:3:69: "Chat" is not a known Cooby message type; did you mean chat?`,
		`rules.yaml:6:47: "vidoe" is not a known Cooby message type; did you mean video?`,
		`rules.yaml:9:19: "xlsx" is not a known Cooby message type`,
	}, got)
}

// TestWarningInABlockCondition: a warning inside `when: |` is at its
// column in the file, whatever the block's indentation.
func TestWarningInABlockCondition(t *testing.T) {
	rs := load(t, "rules:\n  - name: b\n    when: |\n      direction == \"received\"\n        && type == \"vidoe\"\n    actions: [{log: {message: x}}]\n")
	require.Len(t, rs.Warnings, 1)
	require.Equal(t, `rules.yaml:5:20: "vidoe" is not a known Cooby message type; did you mean video?`, rs.Warnings[0].Error())
}
