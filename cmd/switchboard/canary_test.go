package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCanarySecretsNeverShow: a canary secret of 2, 8 and 40 characters,
// used as a destination's URL path segment, query value and header value,
// goes through every main path (check, dryrun, dryrun --json, test, the
// served logs at debug level, /api/deliveries, deliveries, notify-test,
// /status, /metrics and the stored database) against a receiver that
// echoes the request path, query and headers in its 404 answer. No output
// shows it (the two-letter one, which ordinary words contain, nowhere on
// its own), and none is corrupted by hiding it: JSON stays valid and
// words that contain the short canary are left whole.
func TestCanarySecretsNeverShow(t *testing.T) {
	for _, canary := range []string{"te", "Kx7Qw9Zp", "T0k3nAbCdEfGhIjKlMnOpQrStUvWxYz012345678"} {
		t.Run(fmt.Sprint(len(canary)), func(t *testing.T) {
			require.Len(t, canary, map[string]int{"te": 2, "Kx7Qw9Zp": 8}[canary]+map[bool]int{true: 40}[len(canary) == 40])
			runCanary(t, canary)
		})
	}
}

func runCanary(t *testing.T, canary string) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "Cannot %s %s auth=%s version=%s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("X-Api-Version"))
	}))
	t.Cleanup(echo.Close)
	t.Setenv("CANARY", canary)
	t.Setenv("CRM_BASE", echo.URL)

	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	payload := filepath.Join(dir, "payload.json")
	const body = `{"direction":"received","chat_title":"Acme test team","message":{"id":"CANARY1","type":"chat","text":"the text of a test"}}`
	require.NoError(t, os.WriteFile(payload, []byte(body), 0o644))
	require.NoError(t, os.WriteFile(rules, []byte(`destinations:
  crm:
    kind: http
    url: "${CRM_BASE}/hooks/${CANARY}/in?key=${CANARY}"
    headers: {Authorization: "Bearer ${CANARY}", X-Api-Version: "${CANARY}"}
    allow_private: true
rules:
  - name: forward text
    when: direction == "received"
    actions: [{http: {destination: crm, body: {text: "{{ message.text }}", chat: "{{ chat_title }}"}}}]
tests:
  - name: a test message is forwarded
    payload: payload.json
    expect: [forward text]
`), 0o644))

	type output struct{ name, text string }
	var outs []output
	add := func(name, text string) { outs = append(outs, output{name, text}) }

	code, out, errOut := cli(t, "", "check", rules)
	require.Equal(t, 0, code, errOut)
	add("check", out+errOut)
	code, out, errOut = cli(t, "", "dryrun", "-r", rules, payload)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, `"text": "the text of a test"`, "the payload text is printed whole")
	add("dryrun", out+errOut)
	code, out, errOut = cli(t, "", "dryrun", "--json", "-r", rules, payload)
	require.Equal(t, 0, code, errOut)
	require.True(t, json.Valid([]byte(out)), "dryrun --json prints valid JSON: %s", out)
	add("dryrun --json", out+errOut)
	code, out, errOut = cli(t, "", "test", rules)
	require.Equal(t, 0, code, out+errOut)
	add("test", out+errOut)
	code, out, errOut = cli(t, "", "notify-test", "-r", rules, "--egress-allow", "127.0.0.1", "crm")
	require.Equal(t, 1, code, "the receiver answers 404")
	require.Contains(t, out, "FAIL: the test message failed permanently")
	require.Contains(t, out, "Cannot POST ***", "the echoed path is hidden, the rest of the answer shown")
	add("notify-test", out+errOut)

	// The service, logging at debug level.
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	data := filepath.Join(dir, "data")
	a, err := app.New(ctx, app.Config{
		Rules: []string{rules}, Addr: "127.0.0.1:0", Data: data,
		Tokens: []string{"cli-test-token"}, AdminToken: "cli-admin-token",
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), ReloadPoll: -1,
	})
	require.NoError(t, err)
	addr, err := a.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	base := "http://" + addr.String()
	postEvent(t, a, base, body)
	get := func(path string) string {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer cli-admin-token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		return string(b)
	}
	require.Eventually(t, func() bool { return strings.Contains(get("/api/deliveries"), `"dead"`) }, 20*time.Second, 20*time.Millisecond)
	deliveries := get("/api/deliveries")
	require.True(t, json.Valid([]byte(deliveries)), deliveries)
	require.Contains(t, deliveries, "Cannot POST ***")
	add("/api/deliveries", deliveries)
	code, out, errOut = cli(t, "", "deliveries", "--server", base, "--admin-token", "cli-admin-token")
	require.Equal(t, 0, code, errOut)
	add("deliveries", out+errOut)
	status := get("/status")
	require.True(t, json.Valid([]byte(status)), status)
	add("/status", status)
	add("/metrics", get("/metrics"))
	cancel()
	require.NoError(t, <-done)
	add("serve logs", logs.String())
	require.Contains(t, logs.String(), "Cannot POST ***")
	files, err := filepath.Glob(filepath.Join(data, "*"))
	require.NoError(t, err)
	var stored bytes.Buffer
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			stored.Write(b)
		}
	}
	require.Contains(t, stored.String(), "Cannot POST ***", "the database holds the scrubbed error")
	add("stored rows", stored.String())

	// The canary on its own: no letter or digit next to it (the short one
	// is part of ordinary words such as "text", which must stay whole).
	alone := regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(canary) + `($|[^A-Za-z0-9])`)
	mangled := regexp.MustCompile(`[A-Za-z]\*\*\*|\*\*\*[A-Za-z]`)
	for _, o := range outs {
		if len(canary) > 2 {
			require.NotContains(t, o.text, canary, "%s shows the secret", o.name)
		}
		require.False(t, alone.MatchString(o.text), "%s shows the secret: %s", o.name, alone.FindString(o.text))
		if o.name != "stored rows" {
			require.False(t, mangled.MatchString(o.text), "%s has a word mangled by hiding the secret: %q", o.name, mangled.FindString(o.text))
		}
	}
}

// TestCheckNeverPrintsAPieceOfALongEnvValue: an env value longer than 80
// bytes that is not a valid address is reported by `check` without any
// piece of it (the kind's message quotes only its start, which the
// redaction of whole values would miss).
func TestCheckNeverPrintsAPieceOfALongEnvValue(t *testing.T) {
	long := strings.Repeat("s3cr3t-", 15) + "not-an-address"
	t.Setenv("MAIL_FROM", long)
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`destinations:
  mail: {kind: email, smtp: "smtp.example.com:587", from: "${MAIL_FROM}", to: [a@example.com]}
rules: []
`), 0o644))
	code, out, errOut := cli(t, "", "check", rules)
	require.Equal(t, 1, code)
	all := out + errOut
	require.Contains(t, all, "rules.yaml:2:")
	for i := 0; i+8 <= len(long); i++ {
		require.NotContains(t, all, long[i:i+8], "a piece of the secret at %d: %s", i, all)
	}
}
