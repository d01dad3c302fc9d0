package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/testsmtp"
)

func TestNotifyTest(t *testing.T) {
	var got []string
	status := http.StatusOK
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Header.Get("Authorization")+" "+string(b))
		w.WriteHeader(status)
	}))
	defer sink.Close()
	smtpd := testsmtp.Start(t, "", "")
	t.Setenv("SINK_TOKEN", "tok-notify-canary-42")
	path := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
destinations:
  crm: {kind: http, url: "`+sink.URL+`/hook", headers: {Authorization: "Bearer ${SINK_TOKEN}"}}
  mail: {kind: email, smtp: "`+smtpd.Addr+`", from: "bot@example.com", tls: none}
rules: []
`), 0o644))

	code, out, _ := cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, "crm")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "OK: the test message was delivered to crm")
	require.Contains(t, out, "Authorization: Bearer ***")
	require.NotContains(t, out, "tok-notify-canary-42")
	require.Len(t, got, 1)
	require.Contains(t, got[0], "Bearer tok-notify-canary-42")
	require.Contains(t, got[0], `"switchboard":"test"`)

	status = http.StatusNotFound
	code, out, _ = cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, "crm")
	require.Equal(t, 1, code)
	require.Contains(t, out, "FAIL: the test message failed permanently")
	require.NotContains(t, out, "tok-notify-canary-42")

	code, _, errOut := cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, "mail")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "pass --to ADDRESS")
	code, out, _ = cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, "--to", "lead@example.com", "mail")
	require.Equal(t, 0, code, out)
	msgs := smtpd.Wait(1, 30*time.Second)
	require.Len(t, msgs, 1)
	require.Equal(t, []string{"lead@example.com"}, msgs[0].To)

	code, _, errOut = cli(t, "", "notify-test", "--egress-allow", "127.0.0.0/8", "-r", path, "nope")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `no destination "nope"`)
}
