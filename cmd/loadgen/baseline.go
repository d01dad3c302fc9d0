package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The baseline is the reference the service is measured against: a bare
// net/http handler that decodes the JSON body, appends it to one file and
// answers 202 once a group commit has fsynced it. It runs in its own
// process (`loadgen -baseline-serve ADDR FILE`), started under the same
// taskset as switchboard, so both are measured the same way.

// groupCommitter appends records to a file with one write and one fsync
// per batch. Handlers add to the pending batch under a mutex and nudge the
// committer through a channel of capacity one, so the committer is woken
// at most once per batch, never once per request: while it writes and
// fsyncs, requests pile up in the next batch even with GOMAXPROCS=1 (the
// fsync is a blocking syscall and the runtime hands the processor to the
// handlers meanwhile). Closing the batch's channel wakes all its waiters.
type groupCommitter struct {
	f    *os.File
	kick chan struct{}

	mu      sync.Mutex
	pending []byte
	n       int // records in pending
	cur     *commitBatch

	events, fsyncs, maxBatch atomic.Int64
}

// maxYields bounds how many times the committer yields to let a batch
// grow before it commits.
const maxYields = 8

// commitBatch is one group commit; done is closed when it is durable or
// failed (err).
type commitBatch struct {
	done chan struct{}
	err  error
}

func newGroupCommitter(f *os.File) *groupCommitter {
	return &groupCommitter{f: f, kick: make(chan struct{}, 1), cur: &commitBatch{done: make(chan struct{})}}
}

// append queues one record and waits until it is fsynced.
func (g *groupCommitter) append(rec []byte) error {
	g.mu.Lock()
	g.pending = append(g.pending, rec...)
	g.pending = append(g.pending, '\n')
	g.n++
	b := g.cur
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default: // the committer is already due to run
	}
	<-b.done
	return b.err
}

// run is the single committer: it takes everything queued, writes it,
// fsyncs once and wakes every waiter of that batch.
//
// Before taking a batch it yields until no more records join: the kick
// of the first request of a batch makes the committer the next goroutine
// to run, ahead of the handlers already runnable, so without yielding a
// runtime with GOMAXPROCS=1 commits one record per fsync and stays so
// (measured: 1.2 events per fsync and a fifth of the throughput at 256
// clients). Yielding lets every runnable handler append first.
func (g *groupCommitter) run() {
	var spare []byte
	for range g.kick {
		for range maxYields {
			g.mu.Lock()
			n := g.n
			g.mu.Unlock()
			runtime.Gosched()
			g.mu.Lock()
			grew := g.n > n
			g.mu.Unlock()
			if !grew {
				break
			}
		}
		g.mu.Lock()
		if g.n == 0 {
			g.mu.Unlock()
			continue
		}
		buf, n, b := g.pending, g.n, g.cur
		g.pending, g.n, g.cur = spare[:0], 0, &commitBatch{done: make(chan struct{})}
		g.mu.Unlock()

		_, err := g.f.Write(buf)
		if err == nil {
			err = g.f.Sync()
		}
		g.fsyncs.Add(1)
		g.events.Add(int64(n))
		if int64(n) > g.maxBatch.Load() {
			g.maxBatch.Store(int64(n))
		}
		b.err = err
		close(b.done)
		spare = buf
	}
}

// baselineStats is what GET /stats of the baseline answers.
type baselineStats struct {
	Events     int64 `json:"events"`
	Fsyncs     int64 `json:"fsyncs"`
	MaxBatch   int64 `json:"max_batch"`
	GOMAXPROCS int   `json:"gomaxprocs"`
}

// hookPayload is the part of a Cooby payload the baseline checks: decoding
// into it still scans and validates the whole document.
type hookPayload struct {
	Type    string `json:"type"`
	Message struct {
		ID string `json:"id"`
	} `json:"message"`
}

// serveBaseline runs the baseline server on addr, appending to file, until
// the process is killed. It prints "baseline listening on http://HOST:PORT"
// once it accepts connections.
func serveBaseline(addr, file string) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	g := newGroupCommitter(f)
	go g.run()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		var p hookPayload
		if err := json.Unmarshal(data, &p); err != nil || p.Message.ID == "" {
			http.Error(w, "not a payload with a message id", http.StatusBadRequest)
			return
		}
		if err := g.append(data); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(baselineStats{
			Events: g.events.Load(), Fsyncs: g.fsyncs.Load(), MaxBatch: g.maxBatch.Load(),
			GOMAXPROCS: runtime.GOMAXPROCS(0),
		})
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("baseline listening on http://%s\n", l.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv.Serve(l)
}

// baselineProc is a running baseline child process.
type baselineProc struct {
	child
	url      string // where to post payloads
	statsURL string
}

// startBaseline re-execs this binary as the baseline server, under
// taskset -c cpus unless cpus is "".
func startBaseline(cpus string) (*baselineProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "loadgen-base-")
	if err != nil {
		return nil, err
	}
	track(nil, dir)
	cmd := pinnedCommand(cpus, self, "-baseline-serve", "127.0.0.1:0", filepath.Join(dir, "log"))
	c, base, err := startChild(cmd, dir, "baseline")
	if err != nil {
		return nil, err
	}
	return &baselineProc{child: *c, url: base + "/", statsURL: base + "/stats"}, nil
}

// stats fetches the baseline's counters.
func (b *baselineProc) stats() (baselineStats, error) {
	var st baselineStats
	resp, err := ctlClient.Get(b.statsURL)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("baseline stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}
