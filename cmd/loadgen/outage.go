package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// outageReport is the -outage phase: the destination answers 503 for the
// whole load at a fixed rate, then recovers; how long after the recovery
// 99% and all of the accepted events reached it, and how many deliveries
// became dead letters (none should).
type outageReport struct {
	Outage    time.Duration `json:"outage"`
	Rate      int           `json:"rate"`
	Accepted  int           `json:"accepted"`
	Missing   int           `json:"missing"`
	P99After  time.Duration `json:"p99_after"`
	AllAfter  time.Duration `json:"all_after"`
	Dead      int64         `json:"dead_letters"`
	Pending   int64         `json:"pending"`
	AnswerP99 time.Duration `json:"answer_p99"`
}

// runOutage starts switchboard (unpinned) with the sink down, loads it at
// rate events/s for outage, brings the sink back and waits (at most
// drain) until every accepted event arrived.
func runOutage(cfg config, outage time.Duration, rate int) (*outageReport, error) {
	ctx := context.Background()
	sink := newSink()
	defer sink.close()
	srv, err := startServer(cfg.bin, "", sink.url)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	client := newClient(cfg.rateConc)
	defer client.CloseIdleConnections()

	fmt.Printf("outage: the destination answers 503 for %s while switchboard takes %d events/s\n", outage, rate)
	sink.setDown(true)
	res := run(ctx, client, srv.hookURL, cfg.samples, "outage", cfg.rateConc, rate, outage)
	back := time.Now()
	sink.setDown(false)
	fmt.Printf("  load: %s\n", res.summary())
	missing, _ := sink.waitFor(res.accepted, cfg.drain)

	rep := &outageReport{Outage: outage, Rate: rate, Accepted: len(res.accepted), Missing: missing}
	_, rep.AnswerP99 = percentiles(res.lat)
	var after []time.Duration
	sink.mu.Lock()
	for _, id := range res.accepted {
		if at, ok := sink.got[id]; ok {
			after = append(after, max(0, at.Sub(back)))
		}
	}
	sink.mu.Unlock()
	slices.Sort(after)
	if n := len(after); n > 0 {
		rep.P99After = after[min(n-1, (n*99+99)/100-1)]
		if missing == 0 {
			rep.AllAfter = after[n-1]
		}
	}
	if st, err := srv.queue(); err == nil {
		rep.Dead, rep.Pending = st.Dead, st.Pending
	} else {
		fmt.Printf("  reading /status: %v\n", err)
	}
	fmt.Printf("  after the recovery: 99%% delivered within %s, all %d within %s; %d missing, %d dead letters, %d pending\n",
		rep.P99After.Round(time.Millisecond), rep.Accepted, rep.AllAfter.Round(time.Millisecond), rep.Missing, rep.Dead, rep.Pending)
	fmt.Println()
	fmt.Println("| outage | rate | accepted | answer p99 | 99% delivered after recovery | 100% delivered after recovery | missing | dead letters |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	all := rep.AllAfter.Round(time.Millisecond).String()
	if rep.Missing > 0 {
		all = fmt.Sprintf("not within -drain %s", cfg.drain)
	}
	fmt.Printf("| %s | %d/s | %d | %s | %s | %s | %d | %d |\n", outage, rate, rep.Accepted, rep.AnswerP99.Round(time.Microsecond),
		rep.P99After.Round(time.Millisecond), all, rep.Missing, rep.Dead)
	return rep, nil
}

// queueStatus is the part of GET /status the outage phase reads.
type queueStatus struct {
	Pending int64 `json:"pending_deliveries"`
	Dead    int64 `json:"dead_letters"`
}

// queue reads the server's queue from GET /status.
func (s *server) queue() (queueStatus, error) {
	var st struct {
		Queue queueStatus `json:"queue"`
	}
	resp, err := ctlClient.Get(s.base + "/status")
	if err != nil {
		return queueStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return queueStatus{}, fmt.Errorf("GET /status: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st.Queue, err
}
