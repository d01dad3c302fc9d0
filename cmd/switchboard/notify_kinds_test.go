package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNotifyTestNewKinds: notify-test sends each API kind's test message
// to a loopback API (reached with --egress-allow, as the egress guard
// refuses loopback otherwise), prints it with its credentials as ***, and
// reports the outcome.
func TestNotifyTestNewKinds(t *testing.T) {
	const secret = "canary-notify-7f6e5d4c3b2a"
	var mu sync.Mutex
	var paths []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/token") {
			fmt.Fprint(w, `{"access_token":"ya29.notify","expires_in":3600,"token_type":"Bearer"}`)
			return
		}
		fmt.Fprint(w, `{"ok":true,"result":{},"results":[]}`)
	}))
	defer api.Close()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com",
		"token_uri": api.URL + "/token", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	t.Setenv("NOTIFY_SECRET", secret)
	t.Setenv("NOTIFY_SA_KEY", string(key))
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
destinations:
  tg: {kind: telegram, token: "${NOTIFY_SECRET}", chat_id: "42", api_url: "`+api.URL+`"}
  channel: {kind: teams, webhook_url: "`+api.URL+`/workflows/x/triggers/manual/paths/invoke?sig=${NOTIFY_SECRET}"}
  crm: {kind: hubspot, token: "${NOTIFY_SECRET}", api_url: "`+api.URL+`"}
  sheet: {kind: sheets, credentials: "${NOTIFY_SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: "Log!A:A", api_url: "`+api.URL+`"}
rules: []
`), 0o644))
	want := map[string]string{
		"tg":      "POST /bot" + secret + "/sendMessage",
		"channel": "POST /workflows/x/triggers/manual/paths/invoke",
		"crm":     "GET /crm/v3/objects/contacts",
		"sheet":   "POST /v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values/Log!A:A:append",
	}
	for _, dest := range []string{"tg", "channel", "crm", "sheet"} {
		t.Run(dest, func(t *testing.T) {
			mu.Lock()
			paths = nil
			mu.Unlock()
			code, out, errOut := cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, dest)
			require.Equal(t, 0, code, out+errOut)
			require.Contains(t, out, "OK: the test message was delivered to "+dest)
			require.NotContains(t, out+errOut, secret)
			require.NotContains(t, out+errOut, "PRIVATE KEY")
			require.NotContains(t, out+errOut, "ya29.notify")
			mu.Lock()
			require.Contains(t, paths, want[dest])
			mu.Unlock()

			// Without the allow flag the loopback API is refused.
			code, out, _ = cli(t, "", "notify-test", "-r", path, dest)
			require.Equal(t, 1, code)
			require.Contains(t, out, "FAIL")
			require.NotContains(t, out, secret)
		})
	}
}
