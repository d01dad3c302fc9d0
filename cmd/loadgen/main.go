// Command loadgen is Switchboard's load harness. It starts a loopback sink,
// a `switchboard serve` process whose rules forward every event to the
// sink, and a baseline server (a bare net/http handler that appends each
// body to a file with group-committed fsyncs), then posts realistic Cooby
// payloads and reports, for the same run:
//
//   - durably accepted events/s at full speed, for switchboard and baseline;
//   - answer latency p50/p99 at full speed and at half the maximum rate;
//   - end-to-end latency (post to sink) p50/p99 at a fixed rate;
//   - idle and peak RSS of the server;
//   - a reconciliation: every event answered 202 reached the sink.
//
// Usage:
//
//	go run ./cmd/loadgen -bin bin/switchboard -duration 10s
//
// Only loopback addresses are used; every phase is bounded in time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/switchboard", "the switchboard binary")
	samples := flag.String("samples", "testdata/cooby", "directory of sample payloads")
	duration := flag.Duration("duration", 10*time.Second, "length of each load phase")
	conc := flag.Int("concurrency", 64, "concurrent clients")
	e2eRate := flag.Int("e2e-rate", 1000, "events/s of the end-to-end latency phase")
	drain := flag.Duration("drain", 60*time.Second, "how long to wait for the sink to receive everything")
	flag.Parse()

	payloads, err := loadSamples(*samples)
	if err != nil {
		fatal(err)
	}
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conc * 2, MaxConnsPerHost: *conc * 2}, Timeout: 30 * time.Second}

	// Baseline first, on its own.
	base, err := startBaseline()
	if err != nil {
		fatal(err)
	}
	baseRes := run(ctx, client, base.url, payloads, "base", *conc, 0, *duration, nil)
	base.close()
	fmt.Printf("baseline (net/http + file append + group fsync): %s\n", baseRes.summary())

	sink := newSink()
	defer sink.close()
	srv, err := startServer(*bin, sink.url)
	if err != nil {
		fatal(err)
	}
	defer srv.stop()
	time.Sleep(time.Second)
	idle := srv.rss("VmRSS")
	fmt.Printf("switchboard idle RSS: %.1f MB\n", idle)

	maxRes := run(ctx, client, srv.hookURL, payloads, "max", *conc, 0, *duration, sink)
	fmt.Printf("switchboard max rate: %s\n", maxRes.summary())
	fmt.Printf("  vs baseline: %.0f%% of the baseline's rate\n", 100*maxRes.rate()/baseRes.rate())
	missing := sink.waitFor(maxRes.accepted, *drain)
	fmt.Printf("  reconciliation: %d answered 202, %d reached the sink, %d missing\n", len(maxRes.accepted), len(maxRes.accepted)-missing, missing)

	half := int(maxRes.rate() / 2)
	halfRes := run(ctx, client, srv.hookURL, payloads, "half", *conc, half, *duration, sink)
	fmt.Printf("switchboard at half the max rate (%d/s): %s\n", half, halfRes.summary())
	missing = sink.waitFor(halfRes.accepted, *drain)
	fmt.Printf("  reconciliation: %d missing\n", missing)

	e2eRes := run(ctx, client, srv.hookURL, payloads, "e2e", *conc, *e2eRate, *duration, sink)
	missing = sink.waitFor(e2eRes.accepted, *drain)
	p50, p99 := sink.latency(e2eRes.sent)
	fmt.Printf("switchboard at %d/s: %s\n", *e2eRate, e2eRes.summary())
	fmt.Printf("  end-to-end (post to sink): p50 %s, p99 %s; %d missing\n", p50, p99, missing)
	sink.setDown(true)
	downRes := run(ctx, client, srv.hookURL, payloads, "down", *conc, half, *duration, sink)
	fmt.Printf("switchboard at %d/s with the destination down (503): %s\n", half, downRes.summary())
	sink.setDown(false)
	missing = sink.waitFor(downRes.accepted, *drain)
	fmt.Printf("  after it came back: %d of %d delivered, %d missing\n", len(downRes.accepted)-missing, len(downRes.accepted), missing)
	fmt.Printf("switchboard peak RSS: %.1f MB\n", srv.rss("VmHWM"))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// loadSamples reads the sample payloads as generic JSON, so that each post
// can get a unique message id.
func loadSamples(dir string) ([]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no samples in %s", dir)
	}
	var out []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// body renders sample i with a unique message id.
func body(samples []map[string]any, phase string, i int) (id string, data []byte) {
	s := samples[i%len(samples)]
	id = fmt.Sprintf("LG-%s-%d", phase, i)
	m := map[string]any{}
	for k, v := range s {
		m[k] = v
	}
	msg := map[string]any{}
	if old, ok := s["message"].(map[string]any); ok {
		for k, v := range old {
			msg[k] = v
		}
	}
	msg["id"] = id
	m["message"] = msg
	data, _ = json.Marshal(m)
	return id, data
}

type result struct {
	elapsed  time.Duration
	lat      []time.Duration
	accepted []string
	sent     map[string]time.Time
	errors   int64
	status   map[int]int
}

func (r *result) rate() float64 { return float64(len(r.accepted)) / r.elapsed.Seconds() }

func (r *result) summary() string {
	p50, p99 := percentiles(r.lat)
	codes := make([]string, 0, len(r.status))
	for c, n := range r.status {
		codes = append(codes, fmt.Sprintf("%d×%d", n, c))
	}
	sort.Strings(codes)
	return fmt.Sprintf("%d accepted in %s = %.0f events/s; answer p50 %s, p99 %s; %d errors; statuses %s",
		len(r.accepted), r.elapsed.Round(time.Millisecond), r.rate(), p50, p99, r.errors, strings.Join(codes, " "))
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2].Round(10 * time.Microsecond), s[min(len(s)-1, len(s)*99/100)].Round(10 * time.Microsecond)
}

// run posts for d with conc clients; rate 0 means as fast as possible,
// otherwise requests are scheduled at that rate and latency is measured
// from the scheduled time (no coordinated omission).
func run(ctx context.Context, c *http.Client, url string, samples []map[string]any, phase string, conc, rate int, d time.Duration, _ *sink) *result {
	res := &result{sent: map[string]time.Time{}, status: map[int]int{}}
	var mu sync.Mutex
	var n atomic.Int64
	deadline := time.Now().Add(d)
	ticks := make(chan time.Time, conc)
	if rate > 0 {
		go func() {
			defer close(ticks)
			start := time.Now()
			for i := 0; ; i++ {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				if at.After(deadline) {
					return
				}
				time.Sleep(time.Until(at))
				ticks <- at
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var at time.Time
				if rate > 0 {
					t, ok := <-ticks
					if !ok {
						return
					}
					at = t
				} else {
					if time.Now().After(deadline) {
						return
					}
					at = time.Now()
				}
				id, data := body(samples, phase, int(n.Add(1)))
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				lat := time.Since(at)
				if err != nil {
					mu.Lock()
					res.errors++
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				res.status[resp.StatusCode]++
				res.lat = append(res.lat, lat)
				if resp.StatusCode == http.StatusAccepted {
					res.accepted = append(res.accepted, id)
					res.sent[id] = at
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
