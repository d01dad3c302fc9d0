package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// storeSetup is one store configuration compared by -store: SQLite with
// one instance, or PostgreSQL with n instances.
type storeSetup struct {
	Store     string `json:"store"`
	Instances int    `json:"instances"`
}

func (s storeSetup) name() string { return fmt.Sprintf("%s, %d instance(s)", s.Store, s.Instances) }

// storeRow is what one setup measured at one concurrency level.
type storeRow struct {
	Setup       storeSetup    `json:"setup"`
	Concurrency int           `json:"concurrency"`
	Full        phaseStats    `json:"full"`
	E2EP50      time.Duration `json:"e2e_p50"`
	E2EP99      time.Duration `json:"e2e_p99"`
	E2ERate     int           `json:"e2e_rate"`
	// ServerCPU is the switchboard processes' CPU per accepted event (until
	// the sink had them all); OtherCPU the rest of the machine's, less
	// loadgen's own (mostly PostgreSQL).
	ServerCPU time.Duration `json:"server_cpu"`
	OtherCPU  time.Duration `json:"other_cpu"`
	Missing   int           `json:"missing"`
}

// runStores compares SQLite with one instance against PostgreSQL (the
// server at pgURL, a new database per setup) with each of instances, in
// one run, unpinned: the full-speed phase at each -concurrency level with
// the load spread round-robin over the instances, then end-to-end latency
// at -e2e-rate.
func runStores(cfg config, pgURL string, instances []int) error {
	ctx := context.Background()
	sink := newSink()
	defer sink.close()
	setups := []storeSetup{{"SQLite", 1}}
	for _, n := range instances {
		setups = append(setups, storeSetup{"PostgreSQL", n})
	}
	var rows []storeRow
	for i, su := range setups {
		for _, conc := range cfg.concs {
			row, err := measureStore(ctx, cfg, su, conc, pgURL, fmt.Sprintf("s%d-%d", i, conc), sink)
			if err != nil {
				return fmt.Errorf("%s: %w", su.name(), err)
			}
			rows = append(rows, row)
		}
	}
	fmt.Println()
	fmt.Printf("Markdown (duration %s per phase, %s):\n\n", cfg.duration, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	writeStoreMarkdown(os.Stdout, rows)
	return nil
}

func measureStore(ctx context.Context, cfg config, su storeSetup, conc int, pgURL, phase string, sink *sink) (storeRow, error) {
	row := storeRow{Setup: su, Concurrency: conc, E2ERate: cfg.e2eRate}
	var extra []string
	if su.Store == "PostgreSQL" {
		db, drop, err := freshDatabase(ctx, pgURL)
		if err != nil {
			return row, err
		}
		defer drop()
		extra = []string{"--store", db}
	}
	var (
		servers []*server
		urls    []string
	)
	defer func() {
		for _, s := range servers {
			s.stop()
		}
	}()
	for k := range su.Instances {
		args := extra
		if len(extra) > 0 {
			args = append(append([]string(nil), extra...), "--instance", fmt.Sprintf("lg%d", k))
		}
		s, err := startServer(cfg.bin, "", sink.url, args...)
		if err != nil {
			return row, err
		}
		servers = append(servers, s)
		urls = append(urls, s.hookURL)
	}
	time.Sleep(time.Second)
	client := newClient(conc)
	defer client.CloseIdleConnections()

	meters := make([]*cpuMeter, len(servers))
	for i, s := range servers {
		meters[i] = startCPU(s.pid())
	}
	self, mach := startCPU(0), startMachine()
	r := runAcross(ctx, client, urls, cfg.samples, phase, conc, 0, cfg.duration)
	lcpu0, lwall := self.stop()
	var phaseCPU time.Duration
	for _, m := range meters {
		c, _ := m.stop()
		phaseCPU += c
	}
	missing, _ := sink.waitFor(r.accepted, cfg.drain)
	var total time.Duration
	for _, m := range meters {
		c, _ := m.stop()
		total += c
	}
	lcpu, _ := self.stop()
	other := mach.stop() - total - lcpu
	row.Full = newPhaseStats(r, total, phaseCPU, lwall, lcpu0, lwall)
	row.Missing = missing
	if n := len(r.accepted); n > 0 {
		row.ServerCPU = total / time.Duration(n)
		row.OtherCPU = max(0, other) / time.Duration(n)
	}
	fmt.Printf("[%s, c=%d] %s; switchboard CPU/event %s, other CPU/event %s; %d missing\n",
		su.name(), conc, r.summary(), row.ServerCPU, row.OtherCPU, missing)

	e2e := runAcross(ctx, client, urls, cfg.samples, phase+"e2e", conc, cfg.e2eRate, cfg.duration)
	m2, _ := sink.waitFor(e2e.accepted, cfg.drain)
	row.Missing += m2
	row.E2EP50, row.E2EP99 = sink.latency(e2e.sent)
	fmt.Printf("[%s, c=%d] at %d/s: %s; end-to-end p50 %s, p99 %s; %d missing\n",
		su.name(), conc, cfg.e2eRate, e2e.summary(), row.E2EP50, row.E2EP99, m2)
	return row, nil
}

// freshDatabase creates a database with a new name on the server at
// server and returns its URL and a function that drops it.
func freshDatabase(ctx context.Context, server string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "loadgen_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating database: %w", err)
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

func writeStoreMarkdown(w io.Writer, rows []storeRow) {
	fmt.Fprintln(w, "| store | instances | clients | accepted/s | vs SQLite | answer p50 | answer p99 | end-to-end p99 (at rate) | switchboard CPU/event | other CPU/event (PostgreSQL) | missing |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	sqlite := map[int]float64{}
	for _, r := range rows {
		if r.Setup.Store == "SQLite" {
			sqlite[r.Concurrency] = r.Full.Rate
		}
	}
	for _, r := range rows {
		vs := "-"
		if b := sqlite[r.Concurrency]; b > 0 {
			vs = fmt.Sprintf("%.2f×", r.Full.Rate/b)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %s | %s | %s | %s (%d/s) | %s | %s | %d |\n",
			r.Setup.Store, r.Setup.Instances, r.Concurrency, r.Full.Rate, vs, r.Full.P50, r.Full.P99,
			r.E2EP99, r.E2ERate, r.ServerCPU.Round(time.Microsecond), r.OtherCPU.Round(time.Microsecond), r.Missing)
	}
}
