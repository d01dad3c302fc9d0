package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// serverWithAdmin runs an in-process switchboard with a separate admin
// listener and returns its data directory and both base URLs.
func serverWithAdmin(t *testing.T) (data, public, admin string) {
	t.Helper()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(cliRules), 0o644))
	data = filepath.Join(dir, "data")
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, app.Config{
		Rules: []string{rules}, Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Data: data,
		Tokens: []string{"cli-test-token"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ReloadPoll: -1,
	})
	require.NoError(t, err)
	addr, err := a.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	public, admin = "http://"+addr.String(), "http://"+a.AdminAddr().String()
	waitReady(t, public)
	return data, public, admin
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: the machines are shared
	for {
		ok, reason := checkReady(context.Background(), base+"/readyz", 5*time.Second)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server at %s never became ready: %s", base, reason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHealthcheck(t *testing.T) {
	data, public, _ := serverWithAdmin(t)
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"store failed"}`)
	}))
	defer notReady.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // a port nobody listens on any more

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"data directory", []string{"--data", data}, 0, "ready: " + public[len("http://"):] + " is ready\n"},
		{"url", []string{"--url", public, "--data", t.TempDir()}, 0, "ready: "},
		{"not ready", []string{"--url", notReady.URL}, 1, "not ready: " + notReady.Listener.Addr().String() + " answered 503 Service Unavailable (store failed)\n"},
		{"nobody listening", []string{"--url", gone.URL}, 1, "not ready: no answer from " + gone.Listener.Addr().String() + ": "},
		{"no server started there", []string{"--data", t.TempDir()}, 1, "no server has recorded its URL there: has a server started with --data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, "", append([]string{"healthcheck"}, tc.args...)...)
			require.Equal(t, tc.code, code, out+errOut)
			require.Contains(t, out, tc.out)
			require.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
		})
	}
}

// TestClientFindsAdminListener: the client commands find a server's admin
// listener through its data directory, without --server.
func TestClientFindsAdminListener(t *testing.T) {
	data, public, admin := serverWithAdmin(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"status", []string{"status", "--data", data}, 0},
		{"deliveries", []string{"deliveries", "--data", data}, 0},
		{"quarantine", []string{"quarantine", "list", "--data", data}, 0},
		{"explicit admin", []string{"status", "--data", t.TempDir(), "--server", admin}, 0},
		{"public is not admin", []string{"status", "--data", t.TempDir(), "--server", public}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, "", tc.args...)
			require.Equal(t, tc.code, code, out+errOut)
		})
	}
}
