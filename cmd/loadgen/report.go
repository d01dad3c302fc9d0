package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// layoutReport is everything measured in one layout. A layout child
// process writes it as JSON for the parent, which prints the tables.
type layoutReport struct {
	Layout             layout         `json:"layout"`
	LoadCPUsSeen       string         `json:"load_cpus_seen"` // Cpus_allowed_list of loadgen
	ServerCPUsSeen     string         `json:"server_cpus_seen"`
	BaselineCPUsSeen   string         `json:"baseline_cpus_seen"`
	LoadGOMAXPROCS     int            `json:"load_gomaxprocs"`
	ServerGOMAXPROCS   int            `json:"server_gomaxprocs"` // 0: not exposed
	BaselineGOMAXPROCS int            `json:"baseline_gomaxprocs"`
	IdleRSS            float64        `json:"idle_rss_mb"`
	PeakRSS            float64        `json:"peak_rss_mb"`
	Sweep              []sweepRow     `json:"sweep"`
	Fixed              *fixedReport   `json:"fixed,omitempty"`
	Reconciliation     reconciliation `json:"reconciliation"`
}

// sweepRow is one concurrency level of the full-speed sweep.
type sweepRow struct {
	Concurrency    int           `json:"concurrency"`
	Switchboard    phaseStats    `json:"switchboard"`
	Baseline       phaseStats    `json:"baseline"`
	EventsPerFsync float64       `json:"baseline_events_per_fsync"`
	Backlog        time.Duration `json:"backlog"` // last 202 to last delivery; valid if Missing == 0
	Missing        int           `json:"missing"` // accepted but not at the sink within -drain
	// WithConsole is the same phase again with the web console polled
	// (-console-poll), Console what the poller saw.
	WithConsole *phaseStats   `json:"with_console,omitempty"`
	Console     *consoleStats `json:"console,omitempty"`
}

// phaseStats summarises one full-speed phase against one server.
type phaseStats struct {
	Accepted int           `json:"accepted"`
	Rate     float64       `json:"rate"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Errors   int64         `json:"errors"`
	Non202   int           `json:"non202"`
	// CPUPerEvent is the server's CPU divided by the events accepted; for
	// switchboard the CPU counts until the sink had every accepted event.
	CPUPerEvent time.Duration `json:"cpu_per_event"`
	// ServerBusy and LoadBusy are the cores the server and loadgen kept
	// busy during the phase (CPU seconds per second).
	ServerBusy float64 `json:"server_busy"`
	LoadBusy   float64 `json:"load_busy"`
	// OtherBusy is the cores the rest of the machine kept busy: other
	// processes disturbing the measurement (the kernel's softirq work for
	// loopback traffic is partly counted here too).
	OtherBusy float64 `json:"other_busy"`
}

// otherWarn is the OtherBusy above which a run is flagged as disturbed: a
// heuristic, since a quiet machine shows a little (kernel network work).
const otherWarn = 0.3

// setOther records the CPU the rest of the machine used in a phase of
// wall time wall (negative: unknown).
func (p *phaseStats) setOther(other, wall time.Duration) {
	if other >= 0 && wall > 0 {
		p.OtherBusy = other.Seconds() / wall.Seconds()
	}
}

// newPhaseStats builds the stats of a phase: total is the server CPU to
// charge to its events, phase the server CPU within the phase (of wall
// time wall), load and lwall loadgen's own.
func newPhaseStats(r *result, total, phase, wall, load, lwall time.Duration) phaseStats {
	p := phaseStats{Accepted: len(r.accepted), Rate: r.rate(), Errors: r.errors, Non202: r.non202()}
	p.P50, p.P99 = percentiles(r.lat)
	if p.Accepted > 0 && total >= 0 {
		p.CPUPerEvent = total / time.Duration(p.Accepted)
	}
	if wall > 0 && phase >= 0 {
		p.ServerBusy = phase.Seconds() / wall.Seconds()
	}
	if lwall > 0 && load >= 0 {
		p.LoadBusy = load.Seconds() / lwall.Seconds()
	}
	return p
}

func (p phaseStats) cpuSummary() string {
	s := fmt.Sprintf("server CPU %s per event, %.2f cores busy; loadgen %.2f cores busy; other processes %.2f",
		fmtMicros(p.CPUPerEvent), p.ServerBusy, p.LoadBusy, p.OtherBusy)
	if p.OtherBusy > otherWarn {
		s += " (WARNING: the machine is not quiet)"
	}
	return s
}

// reconciliation counts, over every phase of a layout, what switchboard
// answered and what reached the sink.
type reconciliation struct {
	Accepted []int `json:"accepted"` // per phase
	Missing  int   `json:"missing"`
	Errors   int64 `json:"errors"`
	Non202   int   `json:"non202"`
}

func (r *reconciliation) add(res *result, missing int) {
	r.Accepted = append(r.Accepted, len(res.accepted))
	r.Missing += missing
	r.Errors += res.errors
	r.Non202 += res.non202()
}

func (r reconciliation) String() string {
	parts := make([]string, len(r.Accepted))
	for i, n := range r.Accepted {
		parts[i] = fmt.Sprint(n)
	}
	head := "every 202 reached the sink"
	if r.Missing > 0 {
		head = fmt.Sprintf("**%d accepted events missing**", r.Missing)
	}
	return fmt.Sprintf("%s (%s), %d missing, %d errors, %d non-202 answers",
		head, strings.Join(parts, " + "), r.Missing, r.Errors, r.Non202)
}

// fixedReport is the fixed-rate phases of a layout.
type fixedReport struct {
	Concurrency int           `json:"concurrency"`
	HalfRate    int           `json:"half_rate"`
	HalfP50     time.Duration `json:"half_p50"`
	HalfP99     time.Duration `json:"half_p99"`
	E2ERate     int           `json:"e2e_rate"`
	E2EP50      time.Duration `json:"e2e_p50"`
	E2EP99      time.Duration `json:"e2e_p99"`
	DownP50     time.Duration `json:"down_p50"`
	DownP99     time.Duration `json:"down_p99"`
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func fmtPair(a, b time.Duration) string { return fmtMS(a) + " / " + fmtMS(b) + " ms" }

// writeMarkdown prints the tables to paste into BENCHMARKS.md: the sweep,
// with the baseline of the same run side by side, and one row per layout
// for pinning, latency at fixed rates, memory and reconciliation.
func writeMarkdown(w io.Writer, reps []*layoutReport) {
	fmt.Fprintln(w, "| layout | clients | accepted events/s, switchboard / baseline | share | answer p50 / p99, switchboard | answer p50 / p99, baseline | server CPU per event, switchboard (until delivered) / baseline | events per fsync, baseline | backlog delivered within | loadgen cores busy, switchboard / baseline phase |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, rep := range reps {
		for _, r := range rep.Sweep {
			share := "-"
			if r.Baseline.Rate > 0 {
				share = fmt.Sprintf("%.0f %%", 100*r.Switchboard.Rate/r.Baseline.Rate)
			}
			backlog := fmt.Sprintf("%.2f s", r.Backlog.Seconds())
			if r.Missing > 0 {
				backlog = fmt.Sprintf("**not within -drain: %d missing**", r.Missing)
			}
			fmt.Fprintf(w, "| %s | %d | %.0f / %.0f | %s | %s | %s | %s / %s | %.1f | %s | %.2f / %.2f |\n",
				rep.Layout.name(), r.Concurrency, r.Switchboard.Rate, r.Baseline.Rate, share,
				fmtPair(r.Switchboard.P50, r.Switchboard.P99), fmtPair(r.Baseline.P50, r.Baseline.P99),
				fmtMicros(r.Switchboard.CPUPerEvent), fmtMicros(r.Baseline.CPUPerEvent),
				r.EventsPerFsync, backlog, r.Switchboard.LoadBusy, r.Baseline.LoadBusy)
		}
	}
	writeConsoleTable(w, reps)
	worst := 0.0
	for _, rep := range reps {
		for _, r := range rep.Sweep {
			worst = max(worst, r.Switchboard.OtherBusy, r.Baseline.OtherBusy)
		}
	}
	fmt.Fprintf(w, "\nOther processes kept at most %.2f cores busy during a full-speed phase", worst)
	if worst > otherWarn {
		fmt.Fprint(w, ": **the machine was not quiet, measure again**")
	}
	fmt.Fprintln(w, ".")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| layout | cpus (GOMAXPROCS): switchboard / baseline / loadgen | answer p50 / p99 at half the best rate | end-to-end p50 / p99 | answer p50 / p99, destination down | idle / peak RSS | reconciliation |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, rep := range reps {
		half, e2e, down := "not run", "not run", "not run"
		if f := rep.Fixed; f != nil {
			half = fmt.Sprintf("%s (%d/s)", fmtPair(f.HalfP50, f.HalfP99), f.HalfRate)
			e2e = fmt.Sprintf("%s (%d/s)", fmtPair(f.E2EP50, f.E2EP99), f.E2ERate)
			down = fmt.Sprintf("%s (%d/s)", fmtPair(f.DownP50, f.DownP99), f.HalfRate)
		}
		fmt.Fprintf(w, "| %s | %s (%s) / %s (%d) / %s (%d) | %s | %s | %s | %.1f / %.1f MB | %s |\n",
			rep.Layout.name(), rep.ServerCPUsSeen, gmp(rep.ServerGOMAXPROCS), rep.BaselineCPUsSeen, rep.BaselineGOMAXPROCS,
			rep.LoadCPUsSeen, rep.LoadGOMAXPROCS, half, e2e, down, rep.IdleRSS, rep.PeakRSS, rep.Reconciliation)
	}
}

// gmp prints a GOMAXPROCS read from metrics, "?" when not exposed.
func gmp(n int) string {
	if n == 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// writeConsoleTable compares each full-speed phase with its repeat with
// the console polled, when -console-poll was given.
func writeConsoleTable(w io.Writer, reps []*layoutReport) {
	header := false
	for _, rep := range reps {
		for _, r := range rep.Sweep {
			if r.WithConsole == nil {
				continue
			}
			if !header {
				fmt.Fprintln(w)
				fmt.Fprintln(w, "| layout | clients | accepted events/s, without / with the console polled | answer p50 / p99, without / with | server CPU per event, without / with | console requests (every), p50 / p99, failed |")
				fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: |")
				header = true
			}
			c := r.Console
			fmt.Fprintf(w, "| %s | %d | %.0f / %.0f | %s / %s | %s / %s | %d (%s), %s, %d |\n",
				rep.Layout.name(), r.Concurrency, r.Switchboard.Rate, r.WithConsole.Rate,
				fmtPair(r.Switchboard.P50, r.Switchboard.P99), fmtPair(r.WithConsole.P50, r.WithConsole.P99),
				fmtMicros(r.Switchboard.CPUPerEvent), fmtMicros(r.WithConsole.CPUPerEvent),
				c.Pages, c.Every, fmtPair(c.P50, c.P99), c.Fails)
		}
	}
	if header {
		fmt.Fprintln(w)
	}
}
