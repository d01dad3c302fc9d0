package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// service is one in-process switchboard with its loopback address.
type service struct {
	app   *app.App
	base  string
	hook  string
	admin string
	logs  *syncBuffer
	rules string
	stop  func()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a service on rules (written to a file) until the test ends.
// loopback are the networks the tests' sinks listen on, allowed past the
// egress guard.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

func start(t testing.TB, rules string, mod func(*app.Config)) *service {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(rules), 0o644))
	logs := &syncBuffer{}
	cfg := app.Config{
		Rules: []string{path}, Addr: "127.0.0.1:0", Data: filepath.Join(dir, "data"),
		Tokens: []string{"test-token-abcdef"}, AdminToken: "admin-token-123456",
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LookupEnv: func(string) (string, bool) { return "", false },
		// The tests' destinations are loopback servers.
		EgressAllow: loopback,
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	require.NoError(t, err)
	addr, err := a.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	s := &service{app: a, base: "http://" + addr.String(), admin: cfg.AdminToken, logs: logs, rules: path}
	s.hook = a.IngestURL(s.base)
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(60 * time.Second):
				t.Error("service did not stop")
			}
		})
	}
	t.Cleanup(s.stop)
	waitFor(t, func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// post sends a payload and returns the status and answer.
func (s *service) post(t *testing.T, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.hook, "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func (s *service) api(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, s.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// waitFor polls cond for up to 30 s: loopback work is fast, but the
// machines are shared, so deadlines are generous and never asserted.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received is one request a sink got.
type received struct {
	Method string
	Path   string // path and query
	Header http.Header
	Body   string
}

// sink is a loopback destination recording requests; fail decides the
// answer status of the nth request (0 = 200).
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
	fail func(n int, r *http.Request) int
}

func newSink(t *testing.T, fail func(n int, r *http.Request) int) *sink {
	s := &sink{fail: fail}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, received{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)})
		s.mu.Unlock()
		status := http.StatusOK
		if s.fail != nil {
			if c := s.fail(n, r); c != 0 {
				status = c
			}
		}
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		if strings.Contains(r.URL.Path, "/services/") && status == http.StatusOK {
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.reqs...)
}

func readPayload(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "cooby", name))
	require.NoError(t, err)
	return data
}

func samples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "cooby", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}
