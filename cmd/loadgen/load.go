package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// result is what one load phase observed from the client side.
type result struct {
	elapsed    time.Duration
	lat        []time.Duration
	accepted   []string
	sent       map[string]time.Time
	lastAnswer time.Time // when the last 202 came back
	errors     int64
	status     map[int]int
}

func (r *result) rate() float64 { return float64(len(r.accepted)) / r.elapsed.Seconds() }

// non202 counts answers other than 202.
func (r *result) non202() int {
	n := 0
	for c, k := range r.status {
		if c != http.StatusAccepted {
			n += k
		}
	}
	return n
}

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

// newClient returns an HTTP client with enough connections for conc
// concurrent clients.
func newClient(conc int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxConnsPerHost: conc * 2},
		Timeout:   30 * time.Second,
	}
}

// run posts for d with conc clients; rate 0 means as fast as possible,
// otherwise requests are scheduled at that rate and latency is measured
// from the scheduled time (no coordinated omission). A phase lasts d plus
// at most the client timeout.
func run(ctx context.Context, c *http.Client, url string, samples []map[string]any, phase string, conc, rate int, d time.Duration) *result {
	return runAcross(ctx, c, []string{url}, samples, phase, conc, rate, d)
}

// runAcross is run spreading the requests over urls in turn (several
// instances behind a round-robin load balancer).
func runAcross(ctx context.Context, c *http.Client, urls []string, samples []map[string]any, phase string, conc, rate int, d time.Duration) *result {
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
				k := int(n.Add(1))
				id, data := body(samples, phase, k)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[k%len(urls)], bytes.NewReader(data))
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
				now := time.Now()
				mu.Lock()
				res.status[resp.StatusCode]++
				res.lat = append(res.lat, lat)
				if resp.StatusCode == http.StatusAccepted {
					res.accepted = append(res.accepted, id)
					res.sent[id] = at
					if now.After(res.lastAnswer) {
						res.lastAnswer = now
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
