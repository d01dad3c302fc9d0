package builtin_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/hubspot"
)

// sharedFixture is how the shared checks use one kind: its destination and
// action (written after "d: " and "<kind>: "), with ${SECRET} (and ${BASE},
// a loopback API's URL) from the environment. Kinds that are not HTTP
// (email, log) are sent by their own packages' tests (a real SMTP server
// for email); here they get the render and dry-run checks.
type sharedFixture struct {
	dest, action string
	http         bool
}

// sharedFixtures has one entry per registered kind: TestSharedChecks
// fails for a kind without one, so a new kind gets the shared checks.
var sharedFixtures = map[string]sharedFixture{
	"http":     {`{kind: http, url: "${BASE}/api/${SECRET}", headers: {Authorization: "Bearer ${SECRET}"}}`, `{destination: d, url: "/m/{{ text }}", body: {text: "{{ text }}"}}`, true},
	"slack":    {`{kind: slack, token: "${SECRET}", channel: "#support", api_url: "${BASE}"}`, `{destination: d, text: "{{ text }}"}`, true},
	"email":    {`{kind: email, smtp: "127.0.0.1:2525", tls: none, from: "bot@example.com", username: bot, password: "${SECRET}"}`, `{destination: d, to: ["a@example.com"], subject: "{{ text }}", text: "{{ text }}", html: "<p>{{ text }}</p>"}`, false},
	"log":      {`{kind: log, level: info}`, `{destination: d, message: "{{ text }}", fields: {t: "{{ text }}"}}`, false},
	"telegram": {`{kind: telegram, token: "${SECRET}", chat_id: "42", api_url: "${BASE}", chat_rate: none}`, `{destination: d, text: "{{ text }}"}`, true},
	"teams":    {`{kind: teams, webhook_url: "${BASE}/workflows/x/triggers/manual/paths/invoke?sig=${SECRET}"}`, `{destination: d, title: "{{ text }}", text: "{{ text }}", facts: [{title: T, value: "{{ text }}"}]}`, true},
	"hubspot":  {`{kind: hubspot, token: "${SECRET}", api_url: "${BASE}"}`, `{destination: d, do: upsert_contact, phone: "{{ sender.phone }}", properties: {firstname: "{{ text }}"}}`, true},
	"sheets":   {`{kind: sheets, credentials: "${SA_KEY}", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: "A:B", api_url: "${BASE}"}`, `{destination: d, cells: ["{{ text }}", "{{ sender.phone }}"]}`, true},
}

// secret is the canary every fixture's credentials hold.
const secret = "canary-c0ffee-5ec7e7-d00d"

// accessToken is what the loopback token endpoint hands out.
const accessToken = "ya29.shared-canary-access-token"

// apiHandler answers every API the HTTP kinds call with success: a token
// for /token, no match for searches, ok otherwise. With fail set, every
// call but /token is a 400 that echoes the request, credentials included.
func apiHandler(fail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/token"):
			fmt.Fprintf(w, `{"access_token":%q,"expires_in":3600,"token_type":"Bearer"}`, accessToken)
		case fail:
			body, _ := io.ReadAll(r.Body)
			w.WriteHeader(400)
			echo, _ := json.Marshal(fmt.Sprintf("bad request %s %v %s", r.URL.String(), r.Header, body))
			fmt.Fprintf(w, `{"ok":false,"description":%s,"message":%s,"status":"error","error":{"code":400,"message":%s,"status":"INVALID_ARGUMENT"}}`, echo, echo, echo)
		case strings.HasSuffix(r.URL.Path, "/search"):
			fmt.Fprint(w, `{"total":0,"results":[]}`)
		default:
			fmt.Fprint(w, `{"ok":true,"result":{"message_id":1},"id":"1"}`)
		}
	}
}

// serviceAccountKey is a JSON key whose token_uri is base's /token.
func serviceAccountKey(t *testing.T, base string) string {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{
		"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com", "token_uri": base + "/token",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "private_key_id": secret,
	})
	require.NoError(t, err)
	return string(key)
}

// TestSharedChecks runs, for every registered kind, every hostile text
// through render, dry-run and a live send to a loopback API: no secret in
// the stored request, the dry-run output, an error or a log line; what is
// sent is what dry-run printed.
func TestSharedChecks(t *testing.T) {
	for _, name := range slices.Sorted(maps.Keys(builtin.Kinds())) {
		t.Run(name, func(t *testing.T) {
			fx, ok := sharedFixtures[name]
			require.True(t, ok, "kind %s has no shared fixture: add one to sharedFixtures", name)
			kind := builtin.Kinds()[name].(actions.Defined)
			okSrv, got := actionstest.NewSink(t, apiHandler(false))
			failSrv, _ := actionstest.NewSink(t, apiHandler(true))
			load := func(base string) (map[string]string, []string) {
				env := map[string]string{"SECRET": secret, "BASE": base}
				secrets := []string{secret}
				if name == "sheets" {
					env["SA_KEY"] = serviceAccountKey(t, base)
					secrets = append(secrets, "PRIVATE KEY", accessToken)
				}
				return env, secrets
			}
			rules := "destinations:\n  d: " + fx.dest + "\nrules:\n  - name: r\n    when: \"true\"\n    actions:\n      - " + name + ": " + fx.action + "\n"
			env, secrets := load(okSrv.URL)
			rs := actionstest.Load(t, rules, env)
			var logs bytes.Buffer
			o := actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)}
			send, err := kind.NewSender(rs.Destinations["d"].Config, o)
			if fx.http {
				require.NoError(t, err)
			}
			for i, text := range actionstest.Hostile {
				r := actionstest.RenderOnly(t, rs, actionstest.WithText(text))
				r.Key = fmt.Sprintf("evt-%d:r:0", i)
				for _, s := range secrets {
					require.NotContains(t, string(r.Body), s, "the stored request holds a secret")
				}
				wire, exact, err := rs.WireMasked(r)
				require.NoError(t, err)
				data, err := actions.JSON(wire)
				require.NoError(t, err)
				out, err := kind.Format(wire)
				require.NoError(t, err)
				if !exact {
					out, data = rs.Redact(out), []byte(rs.Redact(string(data)))
				}
				for _, s := range secrets {
					require.NotContains(t, out, s, "dry-run shows a secret")
					require.NotContains(t, string(data), s, "dry-run --json shows a secret")
				}
				if !fx.http {
					continue
				}
				require.NoError(t, send.Send(context.Background(), r), "hostile text %d", i)
				first := <-got
				for strings.HasSuffix(first.URL, "/token") {
					first = <-got // the access token exchange
				}
				for len(got) > 0 {
					<-got
				}
				requireSentAsDryRun(t, rs.Wire, r, first)
			}
			if !fx.http {
				return
			}
			// An API that echoes the request, credentials included, in its
			// error: the error and the logs still show no secret.
			env, secrets = load(failSrv.URL)
			rs = actionstest.Load(t, rules, env)
			send, err = kind.NewSender(rs.Destinations["d"].Config, o)
			require.NoError(t, err)
			r := actionstest.RenderOnly(t, rs, actionstest.WithText("hi"))
			err = actionstest.AssertSendLeaksNoSecret(t, send, r, &logs, secrets...)
			require.True(t, actions.IsPermanent(err), "a 400 is permanent: %v", err)
		})
	}
}

// requireSentAsDryRun checks that the first request an API received is the
// first request of the wire form: its method, URL, body and headers (an
// Authorization the wire shows as *** is the token fetched at send time).
func requireSentAsDryRun(t *testing.T, wireOf func(actions.Request) (any, error), r actions.Request, got actionstest.Received) {
	t.Helper()
	wire, err := wireOf(r)
	require.NoError(t, err)
	var w *actions.HTTPRequest
	switch v := wire.(type) {
	case *actions.HTTPRequest:
		w = v
	case *hubspot.Plan:
		w = v.Steps[0].Request
	default:
		t.Fatalf("no first request in a %T", wire)
	}
	cp := *w
	if cp.Header["Authorization"] == "Bearer ***" {
		cp.Header = maps.Clone(w.Header)
		cp.Header["Authorization"] = "Bearer " + accessToken
	}
	actionstest.RequireSentAsWired(t, &cp, got)
}
