// Command loadgen is Switchboard's load harness. It starts a loopback sink,
// a `switchboard serve` process whose rules forward every event to the
// sink, and a baseline server (a bare net/http handler that decodes each
// JSON body and appends it to a file with group-committed fsyncs, in a
// process of its own), then posts realistic Cooby payloads and reports,
// for the same run:
//
//   - for each -concurrency level, at full speed, for switchboard and the
//     baseline: accepted events/s, answer latency p50/p99, server CPU per
//     event (from /proc/<pid>/stat; for switchboard until the sink has
//     every accepted event), the baseline's events per fsync, and how long
//     after the last 202 the sink had every accepted event (the backlog);
//   - answer latency p50/p99 at half the best rate, end-to-end latency
//     (post to sink) at a fixed rate, and answer latency with the
//     destination down;
//   - idle and peak RSS of switchboard;
//   - a reconciliation: every event answered 202 reached the sink.
//
// Each -cores layout runs in a loadgen child process: with 1, switchboard
// and the baseline run under `taskset -c <server-cpus>` (their Go runtime
// sees GOMAXPROCS=1, as in a 1-CPU container) and the load generator under
// `taskset -c <load-cpus>`; with 2 nothing is pinned. The parent prints
// Markdown tables covering every layout at the end.
//
// Usage:
//
//	go run ./cmd/loadgen -bin bin/switchboard -duration 10s -concurrency 16,64,256 -cores 1,2
//
// With -outage D it runs only the outage phase instead: the destination
// answers 503 for D while switchboard takes -outage-rate events/s, then
// recovers; it reports how soon after the recovery 99% and all of the
// accepted events were delivered, and the dead letters (BENCHMARKS.md):
//
//	go run ./cmd/loadgen -bin bin/switchboard -outage 10m -outage-rate 500 -drain 10m
//
// Only loopback addresses are used; every phase is bounded in time.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/switchboard", "the switchboard binary")
	samples := flag.String("samples", "testdata/cooby", "directory of sample payloads")
	duration := flag.Duration("duration", 10*time.Second, "length of each load phase")
	concList := flag.String("concurrency", "16,64,256", "concurrent clients of the full-speed phases: a comma-separated list, each level is swept")
	coresList := flag.String("cores", "1,2", "layouts to measure, comma-separated: 1 = server on -server-cpus, load on -load-cpus; 2 = both unpinned")
	serverCPUs := flag.String("server-cpus", "0", "taskset CPU list of switchboard and the baseline in the 1-core layout")
	loadCPUs := flag.String("load-cpus", "1", "taskset CPU list of the load generator and sink in the 1-core layout")
	ratePhases := flag.Bool("rate-phases", true, "also run the fixed-rate phases (half rate, end-to-end, destination down)")
	rateConc := flag.Int("rate-concurrency", 64, "concurrent clients of the fixed-rate phases")
	e2eRate := flag.Int("e2e-rate", 1000, "events/s of the end-to-end latency phase")
	drain := flag.Duration("drain", 60*time.Second, "how long to wait for the sink to receive every accepted event")
	outage := flag.Duration("outage", 0, "if set, run only the outage phase: the destination answers 503 for this long while switchboard takes -outage-rate events/s, then recovers; it reports how soon after the recovery 99% and all were delivered, and the dead letters")
	outageRate := flag.Int("outage-rate", 500, "events/s of the -outage phase")
	consolePoll := flag.Duration("console-poll", 0, "if set, repeat each full-speed phase of switchboard with the web console's overview (page, live numbers, charts) fetched at this interval, to show what the console costs ingest")
	baselineServe := flag.String("baseline-serve", "", "internal: serve the baseline on `ADDR`, appending to the file given as argument")
	runLayoutN := flag.Int("run-layout", 0, "internal: measure this one layout (run by the parent under taskset)")
	resultFile := flag.String("result", "", "internal: where -run-layout writes its report (JSON)")
	storeURL := flag.String("store", "", "compare stores instead: SQLite with one instance against PostgreSQL at this server URL (postgres://postgres@127.0.0.1:5432/postgres; a new database per setup) with each of -instances, unpinned, at each -concurrency level")
	instList := flag.String("instances", "1,2,3", "with -store: the numbers of PostgreSQL instances to measure, comma-separated")
	flag.Parse()

	if *baselineServe != "" {
		if flag.NArg() != 1 {
			fatal(fmt.Errorf("-baseline-serve ADDR FILE"))
		}
		fatal(serveBaseline(*baselineServe, flag.Arg(0)))
	}
	if flag.NArg() > 0 {
		fatal(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	cleanUpOnSignal()
	if *outage > 0 {
		payloads, err := loadSamples(*samples)
		if err != nil {
			fatal(err)
		}
		cfg := config{bin: *bin, samples: payloads, rateConc: *rateConc, drain: *drain}
		if _, err := runOutage(cfg, *outage, *outageRate); err != nil {
			fatal(err)
		}
		return
	}
	concs, err := parseInts("concurrency", *concList)
	if err != nil {
		fatal(err)
	}
	cores, err := parseInts("cores", *coresList)
	if err != nil {
		fatal(err)
	}
	if *storeURL != "" {
		instances, err := parseInts("instances", *instList)
		if err != nil {
			fatal(err)
		}
		payloads, err := loadSamples(*samples)
		if err != nil {
			fatal(err)
		}
		cfg := config{bin: *bin, samples: payloads, duration: *duration, concs: concs, e2eRate: *e2eRate, drain: *drain}
		if err := runStores(cfg, *storeURL, instances); err != nil {
			fatal(err)
		}
		return
	}
	if *runLayoutN != 0 {
		cores = []int{*runLayoutN}
	}
	taskset := findTaskset(*runLayoutN == 0) // the parent warns, once
	if os.Getenv("GOMAXPROCS") != "" && *runLayoutN == 0 {
		fmt.Fprintln(os.Stderr, "loadgen: GOMAXPROCS is set; it is removed from the environment of every child")
	}
	layouts, err := makeLayouts(cores, *serverCPUs, *loadCPUs, taskset != "")
	if err != nil {
		fatal(err)
	}

	if *runLayoutN != 0 { // a layout child: measure and write the report
		payloads, err := loadSamples(*samples)
		if err != nil {
			fatal(err)
		}
		cfg := config{bin: *bin, samples: payloads, duration: *duration, concs: concs,
			ratePhases: *ratePhases, rateConc: *rateConc, e2eRate: *e2eRate, drain: *drain, consolePoll: *consolePoll}
		rep, err := runLayout(cfg, layouts[0])
		if err != nil {
			fatal(err)
		}
		if *resultFile == "" { // run by hand: print the tables
			writeMarkdown(os.Stdout, []*layoutReport{rep})
			return
		}
		data, err := json.Marshal(rep)
		if err == nil {
			err = os.WriteFile(*resultFile, data, 0o644)
		}
		if err != nil {
			fatal(err)
		}
		return
	}

	if _, err := os.Stat(*bin); err != nil {
		fatal(fmt.Errorf("%v (run make build first)", err))
	}
	for _, l := range layouts {
		for _, cpus := range []string{l.ServerCPUs, l.LoadCPUs} {
			if cpus != "" {
				if err := checkCPUs(taskset, cpus); err != nil {
					fatal(err)
				}
			}
		}
	}
	var reps []*layoutReport
	for _, l := range layouts {
		rep, err := spawnLayout(l)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", l.name(), err))
		}
		reps = append(reps, rep)
	}
	fmt.Println()
	fmt.Printf("Markdown (duration %s per phase, %s):\n\n", *duration, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	writeMarkdown(os.Stdout, reps)
}

// spawnLayout re-execs loadgen with the same flags to measure layout l,
// under taskset -c <load-cpus> when l is pinned, and reads its report.
func spawnLayout(l layout) (*layoutReport, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "loadgen-layout-")
	if err != nil {
		return nil, err
	}
	track(nil, dir)
	defer func() { _ = os.RemoveAll(dir); untrack(nil, dir) }()
	result := filepath.Join(dir, "report.json")
	args := append(append([]string(nil), os.Args[1:]...), "-run-layout", strconv.Itoa(l.Cores), "-result", result)
	cmd := pinnedCommand(l.LoadCPUs, self, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	track(cmd.Process, "")
	err = cmd.Wait()
	untrack(cmd.Process, "")
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(result)
	if err != nil {
		return nil, err
	}
	var rep layoutReport
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// fatal stops the children, removes their directories and exits.
func fatal(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	stopAll()
	os.Exit(1)
}
