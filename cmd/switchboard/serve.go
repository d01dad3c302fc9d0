package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/egress"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// gcPercent is the service's garbage collection target unless GOGC is set.
const gcPercent = 200

func runServe(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "serve", "[-r] RULES...",
		"Run the service: the webhook URL Cooby posts to, the durable store, rule evaluation and\n"+
			"delivery with retries. Every flag can also be set by an environment variable, shown in\n"+
			"brackets; a flag on the command line wins. The rules are reloaded when their files\n"+
			"change, on SIGHUP and on POST /-/reload, only if they are valid; SIGTERM stops\n"+
			"gracefully (accepted events are never lost: unfinished work resumes on restart).")
	rulesOpt := addRulesFlag(fs, "rules file or directory (repeatable); arguments are rules too [SWITCHBOARD_RULES, comma-separated]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address [SWITCHBOARD_ADDR]")
	adminAddr := fs.String("admin-addr", "", "private listen address of /api, /-/reload, /status and /metrics; --addr then serves only the hooks, /healthz and /readyz; default: --addr serves all [SWITCHBOARD_ADMIN_ADDR]")
	consoleHosts := fs.String("console-host", "", "host names (comma-separated) the web console may be opened by, besides IP addresses, localhost and --addr's/--admin-addr's host; other Host headers are refused (DNS rebinding) [SWITCHBOARD_CONSOLE_HOST]")
	egressAllow := fs.String("egress-allow", "", "networks actions may reach although private or local, comma-separated CIDRs or addresses (10.0.0.0/8,127.0.0.1); by default they are refused [SWITCHBOARD_EGRESS_ALLOW]")
	data := fs.String("data", "./data", "data directory: the SQLite store and generated tokens [SWITCHBOARD_DATA]")
	storeURL := fs.String("store", "", "PostgreSQL database shared by several instances (postgres://user@host:5432/db); default: SQLite in --data [SWITCHBOARD_STORE]")
	instance := fs.String("instance", "", "this instance's name in a shared --store, unique and stable across restarts; default: the host name [SWITCHBOARD_INSTANCE]")
	leaseTTL := fs.Duration("lease-ttl", 10*time.Second, "with a shared --store: how long the evaluation lease lasts without a heartbeat, so how soon another instance takes over evaluation from one that died [SWITCHBOARD_LEASE_TTL]")
	tokens := fs.String("token", "", "ingest token(s), comma-separated; default: generated once into DATA/ingest-token [SWITCHBOARD_TOKEN]")
	admin := fs.String("admin-token", "", "bearer token for /api and /-/reload; default: generated once into DATA/admin-token [SWITCHBOARD_ADMIN_TOKEN]")
	origin := fs.String("allow-origin", "*", "CORS Access-Control-Allow-Origin [SWITCHBOARD_ALLOW_ORIGIN]")
	maxBody := fs.Int64("max-body", 1<<20, "largest webhook body in bytes; larger is answered 413 [SWITCHBOARD_MAX_BODY]")
	budget := fs.Int64("disk-budget", 1<<30, "bytes of accepted but not yet evaluated events before ingest answers 503; -1 for no limit [SWITCHBOARD_DISK_BUDGET]")
	dedupeWindow := fs.Duration("dedupe-window", 14*24*time.Hour, "how long a message is remembered to recognise repeats (at least 168h) [SWITCHBOARD_DEDUPE_WINDOW]")
	retention := fs.Duration("retention", 30*24*time.Hour, "how long events, finished deliveries, quarantined bodies and schedule runs are kept (never what is still pending); never less than --dedupe-window; 0 keeps everything [SWITCHBOARD_RETENTION]")
	commitBatch := fs.Int("commit-batch", 256, "most writes grouped into one fsynced commit [SWITCHBOARD_COMMIT_BATCH]")
	workers := fs.Int("workers", 8, "concurrent deliveries [SWITCHBOARD_WORKERS]")
	perDest := fs.Int("per-destination", 4, "concurrent deliveries to one destination [SWITCHBOARD_PER_DESTINATION]")
	retrySchedule := fs.String("retry-schedule", scheduleFlag(actions.DefaultSchedule), "delays before each retry of a failed delivery, comma-separated; a destination's retry: overrides it [SWITCHBOARD_RETRY_SCHEDULE]")
	maxAttempts := fs.Int("max-attempts", 0, "if positive, the most attempts of a delivery (fewer than the schedule allows) before it becomes a dead letter [SWITCHBOARD_MAX_ATTEMPTS]")
	maxAge := fs.Duration("max-age", 72*time.Hour, "age after which a failing delivery becomes a dead letter [SWITCHBOARD_MAX_AGE]")
	sendTimeout := fs.Duration("send-timeout", 30*time.Second, "timeout of one delivery attempt when the action sets none [SWITCHBOARD_SEND_TIMEOUT]")
	shutdown := fs.Duration("shutdown-timeout", 20*time.Second, "bound on a graceful stop [SWITCHBOARD_SHUTDOWN_TIMEOUT]")
	watch := fs.Bool("watch", true, "reload the rules when their files change (their directories are watched) [SWITCHBOARD_WATCH]")
	debounce := fs.Duration("reload-debounce", 200*time.Millisecond, "quiet time after a rules file event before the files are read [SWITCHBOARD_RELOAD_DEBOUNCE]")
	poll := fs.Duration("reload-poll", 30*time.Second, "interval of the rules checksum poll that catches changes no file event announced; 0 for none [SWITCHBOARD_RELOAD_POLL]")
	requireTests := fs.Bool("reload-require-tests", true, "refuse rules whose tests: fail, at startup and on every reload [SWITCHBOARD_RELOAD_REQUIRE_TESTS]")
	logFormat := fs.String("log-format", "text", "log format: text or json [SWITCHBOARD_LOG_FORMAT]")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until the service stops (for performance work)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error [SWITCHBOARD_LOG_LEVEL]")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	rulesOpt.setArgs(fs, pos) // rules given as arguments: SWITCHBOARD_RULES is not added to them
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
		return 2
	}
	rules := rulesOpt.paths
	if _, set := os.LookupEnv("GOGC"); !set {
		// The service's heap is small (tens of MB) and mostly short-lived
		// request data: collecting half as often saved about a tenth of
		// the CPU per event under load (BENCHMARKS.md). GOGC overrides it.
		debug.SetGCPercent(gcPercent)
	}
	logger, err := newLogger(s, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
		return 2
	}
	if len(rules) == 0 {
		fmt.Fprintln(s.err, "switchboard serve: rules are required (--rules FILE, or FILE as an argument)")
		return 2
	}
	allow, err := egress.ParseAllow(splitList(*egressAllow))
	if err != nil {
		fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
		return 2
	}
	schedule, err := actions.ParseSchedule(*retrySchedule)
	if err != nil {
		fmt.Fprintf(s.err, "switchboard serve: --retry-schedule: %v\n", err)
		return 2
	}
	cfg := app.Config{
		RetrySchedule: schedule,
		EgressAllow:   allow, ConsoleHosts: splitList(*consoleHosts),
		Rules: rules, Addr: *addr, AdminAddr: *adminAddr, Data: *data, Tokens: splitList(*tokens), AdminToken: *admin,
		Store: *storeURL, Instance: *instance, LeaseTTL: *leaseTTL,
		AllowOrigin: *origin, MaxBodyBytes: *maxBody, DiskBudget: *budget, CommitBatch: *commitBatch, DedupeWindow: *dedupeWindow, Retention: *retention, Workers: *workers,
		PerDestination: *perDest, MaxAttempts: *maxAttempts, MaxAge: *maxAge, SendTimeout: *sendTimeout,
		ShutdownTimeout: *shutdown, Logger: logger,
		NoWatch: !*watch, ReloadDebounce: *debounce, ReloadPoll: *poll, AllowFailingTests: !*requireTests,
	}
	if *poll == 0 {
		cfg.ReloadPoll = -1 // none
	}
	if *retention == 0 {
		cfg.Retention = -1 // keep everything
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	a, err := app.New(ctx, cfg)
	if err != nil {
		fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
		return 1
	}
	bound, err := a.Listen()
	if err != nil {
		a.Close()
		fmt.Fprintf(s.err, "switchboard serve: %v\n", err)
		return 1
	}
	base := "http://" + bound.String()
	fmt.Fprintf(s.out, "Switchboard %s listening on %s\n", versionString(), base)
	fmt.Fprintf(s.out, "Paste this URL into Cooby (both \"when receiving\" and \"when sending\"):\n  %s\n", a.IngestURL(base))
	if admin := a.AdminAddr(); admin != nil {
		fmt.Fprintf(s.out, "Admin API, /status, /metrics and the web console on http://%s/ (keep it private)\n", admin)
	} else {
		fmt.Fprintf(s.out, "Web console on %s/ (log in with the admin token)\n", base)
	}
	fmt.Fprintf(s.out, "(Expose it over HTTPS through a reverse proxy; see README.) Admin token: %s/admin-token\n", *data)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_, _ = a.Reload(ctx, "SIGHUP")
		}
	}()
	if err := a.Run(ctx); err != nil {
		logger.Error("stopped", "err", err)
		return 1
	}
	return 0
}

// flagsFromEnv sets every flag not given on the command line from
// PREFIX<NAME> (upper case, - as _), if that variable is set.
func flagsFromEnv(fs *flag.FlagSet, prefix string) error {
	// A flag and its one-letter alias (-r, --rules) share their value: set
	// either way, the variable is not read; only the long name has one.
	set := map[any]bool{}
	fs.Visit(func(f *flag.Flag) { set[valueKey(f)] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[valueKey(f)] || err != nil || len(f.Name) == 1 {
			return
		}
		name := prefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return
		}
		if _, isList := f.Value.(*stringList); isList {
			for _, item := range splitList(v) {
				if e := f.Value.Set(item); e != nil {
					err = fmt.Errorf("%s: %w", name, e)
				}
			}
			return
		}
		if e := f.Value.Set(v); e != nil {
			err = fmt.Errorf("%s: %w", name, e)
		}
	})
	return err
}

// valueKey identifies a flag's variable, shared by its aliases (a Value
// that cannot be a map key stands for its flag alone).
func valueKey(f *flag.Flag) any {
	if reflect.TypeOf(f.Value).Comparable() {
		return f.Value
	}
	return f.Name
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(s *stdio, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(s.err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(s.err, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: expected text or json, got %q", format)
}

// scheduleFlag prints a retry schedule as --retry-schedule takes it.
func scheduleFlag(s []time.Duration) string {
	parts := make([]string, len(s))
	for i, d := range s {
		p := d.String()
		if strings.HasSuffix(p, "m0s") {
			p = strings.TrimSuffix(p, "0s")
		}
		if strings.HasSuffix(p, "h0m") {
			p = strings.TrimSuffix(p, "0m")
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
