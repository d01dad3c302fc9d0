package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// adminToken is the server's admin token: the console poller logs in
// with it.
const adminToken = "loadgen-admin-token-0123456789"

// consolePoller is an operator with the console's overview open, fetching
// what a browser fetches (the page, its live numbers, the chart data), at
// every interval instead of htmx's 5 s and the charts' 15 s.
type consolePoller struct {
	client *http.Client
	base   string
	every  time.Duration

	mu    sync.Mutex
	lat   []time.Duration
	fails int
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

func newConsolePoller(base string, every time.Duration) (*consolePoller, error) {
	jar, _ := cookiejar.New(nil)
	p := &consolePoller{client: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: base, every: every}
	resp, err := p.client.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("console: no login form at %s/login", base)
	}
	resp, err = p.client.PostForm(base+"/login", url.Values{"_csrf": {string(m[1])}, "token": {adminToken}})
	if err != nil {
		return nil, err
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Overview") {
		return nil, fmt.Errorf("console: login failed: %s", resp.Status)
	}
	return p, nil
}

// run polls until ctx is done.
func (p *consolePoller) run(ctx context.Context) {
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		for _, path := range []string{"/", "/overview/live", "/overview/series?range=hour", "/overview/series?range=week"} {
			t0 := time.Now()
			resp, err := p.client.Get(p.base + path)
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			p.mu.Lock()
			if ok {
				p.lat = append(p.lat, time.Since(t0))
			} else {
				p.fails++
			}
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consoleStats is what the poller saw during one phase.
type consoleStats struct {
	Every time.Duration `json:"every"`
	Pages int           `json:"pages"`
	Fails int           `json:"fails"`
	P50   time.Duration `json:"p50"`
	P99   time.Duration `json:"p99"`
}

func (p *consolePoller) stats() consoleStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := consoleStats{Every: p.every, Pages: len(p.lat), Fails: p.fails}
	s.P50, s.P99 = percentiles(p.lat)
	return s
}

// withConsole runs the full-speed phase against switchboard again with
// the console polled, and waits for the sink as sweepLevel does.
func withConsole(ctx context.Context, cfg config, i, conc int, srv *server, sink *sink, rec *reconciliation, client *http.Client) (*phaseStats, *consoleStats, error) {
	poller, err := newConsolePoller(srv.base, cfg.consolePoll)
	if err != nil {
		return nil, nil, err
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); poller.run(pctx) }()
	cpu, self, mach := startCPU(srv.pid()), startCPU(0), startMachine()
	sr := run(ctx, client, srv.hookURL, cfg.samples, fmt.Sprintf("console%d-%d", i, conc), conc, 0, cfg.duration)
	phaseCPU, phaseWall := cpu.stop()
	lcpu, lwall := self.stop()
	other := mach.stop() - phaseCPU - lcpu
	stop()
	<-done
	missing, _ := sink.waitFor(sr.accepted, cfg.drain)
	totalCPU, _ := cpu.stop()
	st := newPhaseStats(sr, totalCPU, phaseCPU, phaseWall, lcpu, lwall)
	st.setOther(other, phaseWall)
	rec.add(sr, missing)
	cs := poller.stats()
	fmt.Printf("[c=%d] switchboard with the console polled every %s: %s; %s; %d console requests, p50 %s, p99 %s, %d failed\n",
		conc, cfg.consolePoll, sr.summary(), st.cpuSummary(), cs.Pages, cs.P50, cs.P99, cs.Fails)
	return &st, &cs, nil
}
