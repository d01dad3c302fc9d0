package app_test

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
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestAPIKindsEndToEnd: one WhatsApp message through the running service
// reaches Telegram, Teams, HubSpot and Google Sheets (loopback stand-ins
// answering as those APIs do), each request with its credentials, and no
// secret shows in the deliveries the API lists or in the log.
func TestAPIKindsEndToEnd(t *testing.T) {
	const secret = "canary-e2e-4b3a29181706f5e4"
	var mu sync.Mutex
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" "+string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch p := r.URL.Path; {
		case p == "/token":
			fmt.Fprint(w, `{"access_token":"ya29.e2e-access","expires_in":3600,"token_type":"Bearer"}`)
		case p == "/crm/v3/objects/contacts/search":
			fmt.Fprint(w, `{"total":1,"results":[{"id":"51","properties":{"phone":"+447441369136"}}]}`)
		case p == "/crm/v3/objects/notes/search":
			fmt.Fprint(w, `{"total":0,"results":[]}`)
		case strings.HasPrefix(p, "/workflows/"):
			w.WriteHeader(http.StatusAccepted)
		default:
			fmt.Fprint(w, `{"ok":true,"result":{"message_id":1},"id":"77"}`)
		}
	}))
	t.Cleanup(api.Close)
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com",
		"token_uri": api.URL + "/token", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	env := map[string]string{"SECRET": secret, "SA_KEY": string(key)}
	rules := `destinations:
  tg: {kind: telegram, token: "${SECRET}", chat_id: "42", api_url: "` + api.URL + `"}
  channel: {kind: teams, webhook_url: "` + api.URL + `/workflows/x/triggers/manual/paths/invoke?sig=${SECRET}"}
  crm: {kind: hubspot, token: "${SECRET}", api_url: "` + api.URL + `"}
  sheet: {kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: "Log!A:C", api_url: "` + api.URL + `"}
rules:
  - name: everywhere
    when: direction == "received"
    actions:
      - telegram: {destination: tg, text: "*{{ sender.wa_name }}*: {{ text }}", parse_mode: MarkdownV2}
      - teams: {destination: channel, title: "{{ chat_title }}", text: "{{ text }}"}
      - hubspot: {destination: crm, do: upsert_contact, phone: "{{ sender.phone }}", properties: {firstname: "{{ sender.wa_name }}"}}
      - hubspot: {destination: crm, do: log_message, phone: "{{ sender.phone }}", text: "{{ text }}"}
      - sheets: {destination: sheet, cells: ["{{ time }}", "{{ sender.phone }}", "{{ text }}"]}
`
	svc := start(t, rules, func(c *app.Config) {
		c.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	})
	status, _ := svc.post(t, []byte(`{"chat_id":"447441369136@c.us","direction":"received","timestamp":"1700000000",
		"message":{"id":"M1","type":"chat","text":"=1+1 _hi_ [x](y)"},"sender":{"phone":"447441369136","wa_name":"Sarah"}}`))
	require.Equal(t, http.StatusAccepted, status)
	var ds []app.DeliveryView
	waitFor(t, func() bool {
		ds = nil
		svc.api(t, http.MethodGet, "/api/deliveries?state=done", &ds)
		return len(ds) == 5
	})
	mu.Lock()
	all := strings.Join(got, "\n")
	mu.Unlock()
	for _, want := range []string{
		"POST /bot" + secret + "/sendMessage  " + `{"chat_id":"42","text":"*Sarah*: \\=1\\+1 \\_hi\\_ \\[x\\]\\(y\\)"`,
		"POST /workflows/x/triggers/manual/paths/invoke  ",
		"PATCH /crm/v3/objects/contacts/51 Bearer " + secret + ` {"properties":{"firstname":"Sarah"}}`,
		"POST /crm/v3/objects/notes Bearer " + secret,
		"POST /v4/spreadsheets/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/values/Log!A:C:append Bearer ya29.e2e-access " + `{"majorDimension":"ROWS","range":"Log!A:C","values":[["2023-11-14T22:13:20Z","447441369136","=1+1 _hi_ [x](y)"]]}`,
	} {
		require.Contains(t, all, want)
	}
	data, err := json.Marshal(ds)
	require.NoError(t, err)
	require.NotContains(t, string(data), secret)
	require.NotContains(t, svc.logs.String(), secret)
	require.NotContains(t, svc.logs.String(), "PRIVATE KEY")
}
