package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
// are missing.
func (s *sink) waitFor(ids []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		s.mu.Lock()
		for _, id := range ids {
			if _, ok := s.got[id]; !ok {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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

// server is a switchboard serve process.
type server struct {
	cmd     *exec.Cmd
	dir     string
	hookURL string
}

const token = "loadgen-token-0123456789"

func startServer(bin, sinkURL string) (*server, error) {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return nil, err
	}
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
		"--addr", "127.0.0.1:0", "--token", token, "--log-level", "error", "--workers", "32", "--per-destination", "32"}
	if p := os.Getenv("LOADGEN_CPUPROFILE"); p != "" {
		args = append(args, "--cpuprofile", p)
	}
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	s := &server{cmd: cmd, dir: dir}
	re := regexp.MustCompile(`listening on (http://\S+)`)
	sc := bufio.NewScanner(stdout)
	found := make(chan string, 1)
	go func() {
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		s.hookURL = base + "/hooks/cooby/" + token
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, fmt.Errorf("server did not start")
	}
	return s, waitReady(strings.TrimSuffix(s.hookURL, "/hooks/cooby/"+token) + "/readyz")
}

func waitReady(url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
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

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
	_ = os.RemoveAll(s.dir)
}

// rss reads a memory figure (VmRSS, VmHWM) of the server in MB.
func (s *server) rss(field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// baseline is the reference: net/http, append to one file, group commit.
type baseline struct {
	srv *http.Server
	url string
	f   *os.File
	dir string
}

func startBaseline() (*baseline, error) {
	dir, err := os.MkdirTemp("", "loadgen-base-")
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	type req struct {
		data []byte
		done chan error
	}
	reqs := make(chan req, 1024)
	go func() { // the group-commit writer
		for r := range reqs {
			batch := []req{r}
		more:
			for len(batch) < 64 {
				select {
				case r2, ok := <-reqs:
					if !ok {
						break more
					}
					batch = append(batch, r2)
				default:
					break more
				}
			}
			var buf []byte
			for _, b := range batch {
				buf = append(buf, b.data...)
				buf = append(buf, '\n')
			}
			_, err := f.Write(buf)
			if err == nil {
				err = f.Sync()
			}
			for _, b := range batch {
				b.done <- err
			}
		}
	}()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		done := make(chan error, 1)
		reqs <- req{data, done}
		if err := <-done; err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return &baseline{srv: srv, url: "http://" + l.Addr().String() + "/", f: f, dir: dir}, nil
}

func (b *baseline) close() {
	_ = b.srv.Close()
	_ = b.f.Close()
	_ = os.RemoveAll(b.dir)
}
