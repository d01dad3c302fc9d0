package app_test

import (
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestAdminListener: with Config.AdminAddr the public listener serves only
// the hooks and the probes (admin paths are 404 there, as if they did not
// exist) and the admin listener serves the rest; without it the one
// listener serves everything, as before. Real loopback listeners.
func TestAdminListener(t *testing.T) {
	const rules = "rules:\n  - name: a\n    when: \"true\"\n    actions: [{log: {message: x}}]\n"
	type route struct {
		method, path string
		// public and admin are the expected statuses on each listener with
		// an admin address; single is the one listener's without.
		public, admin, single int
	}
	payload := readPayload(t, "received-chat.json")
	routes := []route{
		{"POST", "/hooks/cooby/test-token-abcdef", http.StatusAccepted, http.StatusNotFound, http.StatusAccepted},
		{"GET", "/healthz", http.StatusOK, http.StatusOK, http.StatusOK},
		{"GET", "/readyz", http.StatusOK, http.StatusOK, http.StatusOK},
		{"GET", "/status", http.StatusNotFound, http.StatusOK, http.StatusOK},
		{"GET", "/metrics", http.StatusNotFound, http.StatusOK, http.StatusOK},
		{"POST", "/-/reload", http.StatusNotFound, http.StatusOK, http.StatusOK},
		{"GET", "/api/deliveries", http.StatusNotFound, http.StatusOK, http.StatusOK},
		{"GET", "/api/quarantine", http.StatusNotFound, http.StatusOK, http.StatusOK},
		{"POST", "/api/dryrun", http.StatusNotFound, http.StatusOK, http.StatusOK},
	}
	do := func(t *testing.T, base string, r route) int {
		t.Helper()
		var body []byte
		if r.method == "POST" {
			body = payload
		}
		req, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer admin-token-123456")
		if strings.HasPrefix(r.path, "/hooks/") {
			req.Header.Del("Authorization")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("with admin address", func(t *testing.T) {
		var data string
		svc := start(t, rules, func(c *app.Config) { c.AdminAddr = "127.0.0.1:0"; data = c.Data })
		addr := svc.app.AdminAddr()
		require.NotNil(t, addr)
		admin := "http://" + addr.String()
		require.NotEqual(t, svc.base, admin)
		for _, r := range routes {
			require.Equal(t, r.public, do(t, svc.base, r), "public listener: %s %s", r.method, r.path)
			require.Equal(t, r.admin, do(t, admin, r), "admin listener: %s %s", r.method, r.path)
		}
		// The CLI finds both listeners through the data directory.
		got, err := app.ReadAdminURL(data)
		require.NoError(t, err)
		require.Equal(t, admin, got)
		got, err = app.ReadPublicURL(data)
		require.NoError(t, err)
		require.Equal(t, svc.base, got)
	})

	t.Run("without admin address", func(t *testing.T) {
		var data string
		svc := start(t, rules, func(c *app.Config) { data = c.Data })
		require.Nil(t, svc.app.AdminAddr())
		for _, r := range routes {
			require.Equal(t, r.single, do(t, svc.base, r), "%s %s", r.method, r.path)
		}
		got, err := app.ReadAdminURL(data)
		require.NoError(t, err)
		require.Equal(t, svc.base, got, "without --admin-addr the public listener serves the admin API")
	})
}

// TestAdminAddrTaken: an admin address already in use fails Listen with the
// address named, and releases the public one.
func TestAdminAddrTaken(t *testing.T) {
	taken, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte("rules: []\n"), 0o644))
	a, err := app.New(t.Context(), app.Config{
		Rules: []string{path}, Addr: "127.0.0.1:0", AdminAddr: taken.Addr().String(), Data: filepath.Join(dir, "data"),
		LookupEnv: func(string) (string, bool) { return "", false },
		Logger:    slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	defer a.Close()
	_, err = a.Listen()
	require.ErrorContains(t, err, "admin address "+taken.Addr().String())
}
