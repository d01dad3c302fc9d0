package httpkit_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// TestSnippetScrubsEchoedURLParts: a receiver that echoes the request
// path or query in its answer (Express's "Cannot POST /path") does not
// put the URL's short secret segments into errors and stored rows; short
// header values are scrubbed only where they stand alone.
func TestSnippetScrubsEchoedURLParts(t *testing.T) {
	tests := []struct {
		name, url string
		header    map[string]string
		body      string
		want      string
	}{
		{"express 404", "https://hooks.zapier.com/hooks/catch/4711/abc123/", nil,
			"<pre>Cannot POST /hooks/catch/4711/abc123/</pre>", "<pre>Cannot POST ***</pre>"},
		{"without the final slash", "https://hooks.zapier.com/hooks/catch/4711/abc123/", nil,
			"no route /hooks/catch/4711/abc123", "no route ***"},
		{"with the host", "https://crm.example.com/in/k9", nil,
			"unknown crm.example.com/in/k9 (see docs)", "unknown *** (see docs)"},
		{"path and query", "https://crm.example.com/in?token=Zq", nil,
			`{"error":"bad token","path":"/in?token=Zq"}`, `{"error":"bad token","path":"***"}`},
		{"query alone", "https://crm.example.com/in?token=Zq", nil,
			`token=Zq is not valid`, `*** is not valid`},
		{"escaped path", "https://crm.example.com/a%20b/x", nil,
			`no /a b/x here`, `no *** here`},
		{"short header alone", "https://crm.example.com/", map[string]string{"X-Api-Version": "2"},
			`version 2 is not 2024`, `version *** is not 2024`},
		{"bearer", "https://crm.example.com/", map[string]string{"Authorization": "Bearer 0123456789abcdef"},
			`token 0123456789abcdef expired`, `token *** expired`},
		{"public headers stay", "https://crm.example.com/", map[string]string{"Content-Type": "application/json"},
			`expected application/json`, `expected application/json`},
		{"a root path is not a secret", "https://crm.example.com/", nil,
			`GET / is not allowed`, `GET / is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &actions.HTTPRequest{Method: "POST", URL: tt.url, Header: tt.header}
			require.Equal(t, tt.want, httpkit.Snippet(w, []byte(tt.body)))
		})
	}
}
