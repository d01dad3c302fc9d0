package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"
)

// config is what the flags say about the measurement.
type config struct {
	bin        string
	samples    []map[string]any
	duration   time.Duration
	concs      []int
	ratePhases bool
	rateConc   int
	e2eRate    int
	drain      time.Duration
	// consolePoll, if set, repeats each full-speed phase of switchboard
	// with the web console's overview polled at this interval.
	consolePoll time.Duration
}

// runLayout measures one layout: it runs in a loadgen process already
// pinned to the load CPUs (or unpinned), starts the baseline and
// switchboard on the server CPUs, sweeps the concurrency levels at full
// speed and then, unless disabled, runs the fixed-rate phases.
func runLayout(cfg config, l layout) (*layoutReport, error) {
	ctx := context.Background()
	rep := &layoutReport{
		Layout: l, LoadGOMAXPROCS: runtime.GOMAXPROCS(0), LoadCPUsSeen: allowedCPUs(os.Getpid()),
	}
	fmt.Printf("== %s: loadgen on cpus %s, GOMAXPROCS %d\n", l.name(), rep.LoadCPUsSeen, rep.LoadGOMAXPROCS)

	base, err := startBaseline(l.ServerCPUs)
	if err != nil {
		return nil, err
	}
	defer base.stop()
	sink := newSink()
	defer sink.close()
	srv, err := startServer(cfg.bin, l.ServerCPUs, sink.url)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	time.Sleep(time.Second)
	rep.IdleRSS = rssMB(srv.pid(), "VmRSS")
	rep.ServerGOMAXPROCS = srv.gomaxprocs()
	if st, err := base.stats(); err == nil {
		rep.BaselineGOMAXPROCS = st.GOMAXPROCS
	}
	rep.ServerCPUsSeen = allowedCPUs(srv.pid())
	rep.BaselineCPUsSeen = allowedCPUs(base.pid())
	fmt.Printf("switchboard pid %d on cpus %s, GOMAXPROCS %d, idle RSS %.1f MB\n",
		srv.pid(), rep.ServerCPUsSeen, rep.ServerGOMAXPROCS, rep.IdleRSS)
	fmt.Printf("baseline pid %d on cpus %s, GOMAXPROCS %d\n", base.pid(), rep.BaselineCPUsSeen, rep.BaselineGOMAXPROCS)

	rec := &reconciliation{}
	for i, conc := range cfg.concs {
		row, err := sweepLevel(ctx, cfg, i, conc, base, srv, sink, rec)
		if err != nil {
			return nil, err
		}
		rep.Sweep = append(rep.Sweep, row)
	}
	if cfg.ratePhases {
		rep.Fixed = fixedPhases(ctx, cfg, rep.Sweep, srv, sink, rec)
	}
	rep.PeakRSS = rssMB(srv.pid(), "VmHWM")
	rep.Reconciliation = *rec
	fmt.Printf("switchboard peak RSS: %.1f MB\n", rep.PeakRSS)
	return rep, nil
}

// sweepLevel runs the full-speed phase at one concurrency level against
// the baseline, then against switchboard, and waits until the sink has
// every event switchboard accepted. Level i of the sweep names its
// message ids, so that a level listed twice posts no duplicates.
func sweepLevel(ctx context.Context, cfg config, i, conc int, base *baselineProc, srv *server, sink *sink, rec *reconciliation) (sweepRow, error) {
	row := sweepRow{Concurrency: conc}
	client := newClient(conc)
	defer client.CloseIdleConnections()

	st0, err := base.stats()
	if err != nil {
		return row, err
	}
	cpu, self, mach := startCPU(base.pid()), startCPU(0), startMachine()
	br := run(ctx, client, base.url, cfg.samples, fmt.Sprintf("base%d-%d", i, conc), conc, 0, cfg.duration)
	bcpu, bwall := cpu.stop()
	lcpu, lwall := self.stop()
	bother := mach.stop() - bcpu - lcpu
	st1, err := base.stats()
	if err != nil {
		return row, err
	}
	row.Baseline = newPhaseStats(br, bcpu, bcpu, bwall, lcpu, lwall)
	row.Baseline.setOther(bother, bwall)
	if f := st1.Fsyncs - st0.Fsyncs; f > 0 {
		row.EventsPerFsync = float64(st1.Events-st0.Events) / float64(f)
	}
	fmt.Printf("[c=%d] baseline: %s; %.1f events per fsync (largest batch so far %d); %s\n",
		conc, br.summary(), row.EventsPerFsync, st1.MaxBatch, row.Baseline.cpuSummary())
	client.CloseIdleConnections()

	cpu, self, mach = startCPU(srv.pid()), startCPU(0), startMachine()
	sr := run(ctx, client, srv.hookURL, cfg.samples, fmt.Sprintf("max%d-%d", i, conc), conc, 0, cfg.duration)
	phaseCPU, phaseWall := cpu.stop()
	lcpu, lwall = self.stop()
	sother := mach.stop() - phaseCPU - lcpu
	missing, last := sink.waitFor(sr.accepted, cfg.drain)
	totalCPU, _ := cpu.stop()
	row.Switchboard = newPhaseStats(sr, totalCPU, phaseCPU, phaseWall, lcpu, lwall)
	row.Switchboard.setOther(sother, phaseWall)
	row.Missing = missing
	if missing == 0 && len(sr.accepted) > 0 {
		row.Backlog = max(0, last.Sub(sr.lastAnswer))
	}
	rec.add(sr, missing)
	fmt.Printf("[c=%d] switchboard: %s; %s\n", conc, sr.summary(), row.Switchboard.cpuSummary())
	if cfg.consolePoll > 0 {
		if row.WithConsole, row.Console, err = withConsole(ctx, cfg, i, conc, srv, sink, rec, client); err != nil {
			return row, err
		}
	}
	if b := row.Baseline.Rate; b > 0 {
		fmt.Printf("[c=%d]   %.0f%% of the baseline's rate\n", conc, 100*row.Switchboard.Rate/b)
	}
	if missing == 0 {
		fmt.Printf("[c=%d]   backlog delivered within %s of the last 202; all %d accepted reached the sink\n",
			conc, row.Backlog.Round(time.Millisecond), len(sr.accepted))
	} else {
		fmt.Printf("[c=%d]   %d of %d accepted NOT delivered within -drain %s\n", conc, missing, len(sr.accepted), cfg.drain)
	}
	return row, nil
}

// fixedPhases runs the fixed-rate phases against switchboard: answer
// latency at half the best full-speed rate of the sweep, end-to-end
// latency at -e2e-rate, and half the rate with the destination down.
func fixedPhases(ctx context.Context, cfg config, sweep []sweepRow, srv *server, sink *sink, rec *reconciliation) *fixedReport {
	best := 0.0
	for _, r := range sweep {
		best = max(best, r.Switchboard.Rate)
	}
	half := max(1, int(best/2))
	fr := &fixedReport{HalfRate: half, E2ERate: cfg.e2eRate, Concurrency: cfg.rateConc}
	client := newClient(cfg.rateConc)
	defer client.CloseIdleConnections()

	halfRes := run(ctx, client, srv.hookURL, cfg.samples, "half", cfg.rateConc, half, cfg.duration)
	fr.HalfP50, fr.HalfP99 = percentiles(halfRes.lat)
	missing, _ := sink.waitFor(halfRes.accepted, cfg.drain)
	rec.add(halfRes, missing)
	fmt.Printf("switchboard at half the best rate (%d/s): %s; %d missing\n", half, halfRes.summary(), missing)

	e2eRes := run(ctx, client, srv.hookURL, cfg.samples, "e2e", cfg.rateConc, cfg.e2eRate, cfg.duration)
	missing, _ = sink.waitFor(e2eRes.accepted, cfg.drain)
	rec.add(e2eRes, missing)
	fr.E2EP50, fr.E2EP99 = sink.latency(e2eRes.sent)
	fmt.Printf("switchboard at %d/s: %s\n", cfg.e2eRate, e2eRes.summary())
	fmt.Printf("  end-to-end (post to sink): p50 %s, p99 %s; %d missing\n", fr.E2EP50, fr.E2EP99, missing)

	sink.setDown(true)
	downRes := run(ctx, client, srv.hookURL, cfg.samples, "down", cfg.rateConc, half, cfg.duration)
	sink.setDown(false)
	fr.DownP50, fr.DownP99 = percentiles(downRes.lat)
	missing, _ = sink.waitFor(downRes.accepted, cfg.drain)
	rec.add(downRes, missing)
	fmt.Printf("switchboard at %d/s with the destination down (503): %s\n", half, downRes.summary())
	fmt.Printf("  after it came back: %d of %d delivered, %d missing\n", len(downRes.accepted)-missing, len(downRes.accepted), missing)
	return fr
}
