package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestMain lets the test binary run the service as a child process, for the
// kill -9 test.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SWITCHBOARD_TEST_CHILD"); dir != "" {
		os.Exit(runChild(dir))
	}
	os.Exit(m.Run())
}

func runChild(dir string) int {
	// SIGTERM stops gracefully, as serve does.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// A cluster instance (cluster_test.go) names its store and itself.
	name, data := os.Getenv("SWITCHBOARD_TEST_CHILD_INSTANCE"), filepath.Join(dir, "data")
	if name != "" {
		data = filepath.Join(dir, "data-"+name)
	}
	a, err := app.New(ctx, app.Config{
		Rules: []string{filepath.Join(dir, "rules.yaml")}, Addr: "127.0.0.1:0", Data: data,
		Tokens: []string{"kill-token-0123456789"}, AdminToken: "kill-admin-0123456789",
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		EgressAllow: loopback,
		Store:       os.Getenv("SWITCHBOARD_TEST_CHILD_STORE"), Instance: name, LeaseTTL: childLeaseTTL,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr, err := a.Listen()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "addr.tmp"+name), []byte(addr.String()), 0o644); err != nil {
		return 1
	}
	if err := os.Rename(filepath.Join(dir, "addr.tmp"+name), filepath.Join(dir, "addr"+name)); err != nil {
		return 1
	}
	if err := a.Run(ctx); err != nil {
		return 1
	}
	return 0
}

// startChild runs the service on dir's rules.yaml in a child process and
// returns it with its base URL.
func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_CHILD="+dir)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var addr string
	waitFor(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "addr"))
		addr = string(b)
		return err == nil
	})
	return cmd, "http://" + addr
}

// TestKill9LosesNothing kills the service with SIGKILL repeatedly while
// payloads are being posted, restarts it, and checks that every event that
// was answered 202 had its action delivered in the end.
func TestKill9LosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	var mu sync.Mutex
	got := map[string]int{}
	sinkSrv := newSink(t, nil)
	sinkSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got[b.ID]++
		mu.Unlock()
	})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`
destinations:
  sink: {kind: http, url: "`+sinkSrv.URL+`"}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: sink, url: "/in", body: {id: "{{ message.id }}"}}}]
`), 0o644))

	startChild := func() (*exec.Cmd, string) {
		cmd, base := startChild(t, dir)
		return cmd, base + "/hooks/cooby/kill-token-0123456789"
	}

	var acked []string
	var ackMu sync.Mutex
	n := 0
	for round := range 5 {
		cmd, url := startChild()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("K%d-%d-%d", round, w, i)
					body := `{"direction":"received","chat_id":"1@c.us","message":{"id":"` + id + `","type":"chat","text":"hi"}}`
					resp, err := client.Post(url, "application/json", strings.NewReader(body))
					if err != nil {
						return // the server died
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						ackMu.Lock()
						acked = append(acked, id)
						ackMu.Unlock()
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		close(stop)
		wg.Wait()
		n++
	}
	require.NotEmpty(t, acked)
	cmd, _ := startChild()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, id := range acked {
			if got[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	require.Empty(t, missing(), "of %d events answered 202 across %d kills", len(acked), n)
	t.Logf("%d events answered 202 across %d kill -9s; all delivered", len(acked), n)
}

// TestKill9BetweenSchedulingAndFiring: a delayed rule's check is stored
// when its message is evaluated; the service is killed with SIGKILL before
// the check is due and restarted: the action fires once.
func TestKill9BetweenSchedulingAndFiring(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	var mu sync.Mutex
	got := map[string]int{}
	sinkSrv := newSink(t, nil)
	sinkSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		mu.Lock()
		got[b.ID]++
		mu.Unlock()
	})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(`
destinations:
  sink: {kind: http, url: "`+sinkSrv.URL+`"}
rules:
  - name: unanswered
    when: direction == "received" && chat.awaiting_reply
    after: 6s
    actions: [{http: {destination: sink, url: "/in", body: {id: "{{ message.id }}"}}}]
`), 0o644))
	start := func() (*exec.Cmd, string) { return startChild(t, dir) }
	cmd, base := start()
	written := time.Now().Unix()
	body := fmt.Sprintf(`{"chat_id":"1@c.us","direction":"received","message":{"id":"Q1","type":"chat"},"timestamp":"%d"}`, written)
	resp, err := http.Post(base+"/hooks/cooby/kill-token-0123456789", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	// Wait until the message is evaluated (the check is stored), then kill.
	waitFor(t, func() bool {
		r, err := http.Get(base + "/status")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var st app.StatusReport
		return json.NewDecoder(r.Body).Decode(&st) == nil && st.Queue.Cursor >= 1
	})
	killedAt := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	if killedAt.Before(time.Unix(written+6, 0)) {
		mu.Lock()
		require.Zero(t, got["Q1"], "killed before the check was due")
		mu.Unlock()
	} else {
		t.Log("the machine was too slow to kill before the check was due; checking it still fired once")
	}

	cmd, _ = start()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return got["Q1"] > 0 })
	time.Sleep(2 * time.Second) // long enough for a second firing to show
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, got["Q1"], "the delayed action fired once")
}
