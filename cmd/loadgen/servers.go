package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// sink is the loopback destination: it records when each event arrived.
type sink struct {
	srv  *httptest.Server
	url  string
	mu   sync.Mutex
	got  map[string]time.Time
	down bool // answer 503 to everything
}

// setDown makes the sink fail (503) or work again.
func (s *sink) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func newSink() *sink {
	s := &sink{got: map[string]time.Time{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ID string }
		data, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		down := s.down
		s.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if json.Unmarshal(data, &b) == nil && b.ID != "" {
			now := time.Now()
			s.mu.Lock()
			if _, dup := s.got[b.ID]; !dup {
				s.got[b.ID] = now
			}
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.url = s.srv.URL
	return s
}

func (s *sink) close() { s.srv.Close() }

// waitFor waits until every id arrived, or timeout; it returns how many
// are missing and when the last of those that arrived did (zero if none).
// It polls every 10 ms, rechecking only the ids still missing.
func (s *sink) waitFor(ids []string, timeout time.Duration) (missing int, last time.Time) {
	deadline := time.Now().Add(timeout)
	todo := append([]string(nil), ids...)
	for {
		s.mu.Lock()
		rest := todo[:0]
		for _, id := range todo {
			if at, ok := s.got[id]; !ok {
				rest = append(rest, id)
			} else if at.After(last) {
				last = at
			}
		}
		s.mu.Unlock()
		todo = rest
		if len(todo) == 0 || time.Now().After(deadline) {
			return len(todo), last
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// latency returns post-to-sink percentiles of the events that arrived.
func (s *sink) latency(sent map[string]time.Time) (p50, p99 time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d []time.Duration
	for id, at := range sent {
		if got, ok := s.got[id]; ok {
			d = append(d, got.Sub(at))
		}
	}
	return percentiles(d)
}

// child is a server process started by loadgen (switchboard or the
// baseline), with the temporary directory it owns.
type child struct {
	cmd  *exec.Cmd
	dir  string
	name string
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// startChild starts cmd and waits (30 s at most) until it prints
// "listening on http://..."; it returns that base URL. dir is removed when
// the child stops.
func startChild(cmd *exec.Cmd, dir, name string) (*child, string, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		untrack(nil, dir)
		return nil, "", fmt.Errorf("starting %s: %w", name, err)
	}
	track(cmd.Process, dir)
	c := &child{cmd: cmd, dir: dir, name: name}
	found := make(chan string, 1)
	go func() { // keep draining stdout for the child's whole life
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case base := <-found:
		return c, base, nil
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, "", fmt.Errorf("%s did not start", name)
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM, kills after 30 s, and removes the child's directory.
func (c *child) stop() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
		}
	}
	_ = os.RemoveAll(c.dir)
	untrack(c.cmd.Process, c.dir)
}

// server is a switchboard serve process.
type server struct {
	child
	base    string
	hookURL string
}

const token = "loadgen-token-0123456789"

// startServer starts `switchboard serve` (under taskset -c cpus unless
// cpus is "") with one rule forwarding every event to sinkURL.
func startServer(bin, cpus, sinkURL string, extra ...string) (*server, error) {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return nil, err
	}
	track(nil, dir)
	rules := fmt.Sprintf(`destinations:
  sink: {kind: http, url: %q}
rules:
  - name: forward
    when: "true"
    actions:
      - http: {destination: sink, url: "/in", body: {id: "{{ message.id }}", type: "{{ type }}", from: "{{ sender.wa_name }}"}}
`, sinkURL)
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(rules), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "--rules", rulesPath, "--data", filepath.Join(dir, "data"),
		"--addr", "127.0.0.1:0", "--egress-allow", "127.0.0.1", "--token", token, "--admin-token", adminToken, "--log-level", "error", "--workers", "32", "--per-destination", "32"}
	args = append(args, extra...)
	if p := os.Getenv("LOADGEN_CPUPROFILE"); p != "" {
		args = append(args, "--cpuprofile", p)
	}
	c, base, err := startChild(pinnedCommand(cpus, bin, args...), dir, bin)
	if err != nil {
		return nil, err
	}
	s := &server{child: *c, base: base, hookURL: base + "/hooks/cooby/" + token}
	if err := waitReady(base + "/readyz"); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// ctlClient is for the control requests (readiness, metrics, baseline
// stats), which must not hang a run.
var ctlClient = &http.Client{Timeout: 5 * time.Second}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := ctlClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("server not ready")
}

// gomaxprocs reads the Go runtime's GOMAXPROCS of the server from its
// Prometheus metrics (go_sched_gomaxprocs_threads), or 0 if absent.
func (s *server) gomaxprocs() int {
	resp, err := ctlClient.Get(s.base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_sched_gomaxprocs_threads "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int(f)
			}
		}
	}
	return 0
}
