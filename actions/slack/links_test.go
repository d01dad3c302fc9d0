package slack_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// TestValuesCannotSplitALink: a payload value inside the URL of a link
// the author wrote (<url|label>) has its | and spaces percent-encoded, so
// it cannot end the URL and write its own label; in the label and outside
// links it is escaped as everywhere (& < >), a | left as typed. Blocks get
// the same treatment.
func TestValuesCannotSplitALink(t *testing.T) {
	tests := []struct {
		template, text, want string
	}{
		{"<https://crm.example.com/c/{{ text }}|open {{ text }}>", "42|click here", "<https://crm.example.com/c/42%7Cclick%20here|open 42|click here>"},
		{"<{{ text }}|label>", "https://evil.example|Your bank", "<https://evil.example%7CYour%20bank|label>"},
		{"<{{ text }}>", "https://a.example/x y", "<https://a.example/x%20y>"},
		{"said: {{ text }}", "a|b <!channel> @here", "said: a|b &lt;!channel&gt; @here"},
		{"<https://x.example|{{ text }}>", "x>|<https://evil.example|y", "<https://x.example|x&gt;|&lt;https://evil.example|y>"},
	}
	for _, tt := range tests {
		req := renderOne(t, rulesWith(`{destination: team, text: "`+tt.template+`"}`), actionstest.WithText(tt.text))
		var m struct{ Text string }
		require.NoError(t, json.Unmarshal([]byte(req.Body), &m))
		require.Equal(t, tt.want, m.Text, tt.template)
	}
	req := renderOne(t, rulesWith(`{destination: team, blocks: [{type: section, text: {type: mrkdwn, text: "<https://crm.example.com/{{ text }}|{{ text }}>"}}]}`), actionstest.WithText("a|b"))
	var m struct {
		Blocks []struct{ Text struct{ Text string } }
	}
	require.NoError(t, json.Unmarshal([]byte(req.Body), &m))
	require.Equal(t, "<https://crm.example.com/a%7Cb|a|b>", m.Blocks[0].Text.Text)
}
