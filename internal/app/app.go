package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard-dev/switchboard/internal/alert"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/reload"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// App is the running service. Create it with New, start it with Run.
type App struct {
	cfg     Config
	log     *slog.Logger
	store   store.Backend
	metrics *metrics

	active   atomic.Pointer[active]
	status   atomic.Pointer[ReloadStatus]
	reloader *reload.Reloader

	dispatcher *dispatch.Dispatcher
	deliverer  *delivery.Deliverer
	alerter    *alert.Alerter
	handler    http.Handler // the public listener's
	adminH     http.Handler // the admin listener's (handler itself without one)
	console    http.Handler // the web console (see newConsole)

	listener      net.Listener
	adminListener net.Listener // nil without Config.AdminAddr
	ready         atomic.Bool
	tokens        []string
	// peers is the number of live instances sharing the store (0 or 1:
	// this one alone), which divides the destinations' rates.
	peers    atomic.Int64
	adminTok string
}

// New opens the store, loads the rules and builds every component. It does
// not listen yet: see Run. A rules file that does not load is an error.
func New(ctx context.Context, cfg Config) (*App, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Rules) == 0 {
		return nil, errors.New("no rules: pass --rules FILE or DIR")
	}
	if cfg.Retention > 0 && cfg.Retention < cfg.DedupeWindow {
		// An event must outlive the dedupe key that recognises its repeats.
		cfg.Logger.Warn("the retention window is shorter than the dedupe window; keeping data for the dedupe window instead",
			"retention", cfg.Retention, "dedupe_window", cfg.DedupeWindow)
		cfg.Retention = cfg.DedupeWindow
	}
	a := &App{cfg: cfg, log: cfg.Logger}
	var err error
	if a.tokens = cfg.Tokens; len(a.tokens) == 0 {
		tok, err := loadOrCreateToken(cfg.Data, "ingest-token")
		if err != nil {
			return nil, err
		}
		a.tokens = []string{tok}
	}
	if a.adminTok = cfg.AdminToken; a.adminTok == "" {
		if a.adminTok, err = loadOrCreateToken(cfg.Data, "admin-token"); err != nil {
			return nil, err
		}
	}
	a.store, err = a.openStore(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	if n, err := a.store.ReleaseLeases(ctx); err != nil {
		a.store.Close()
		return nil, err
	} else if n > 0 {
		a.log.Info("resuming deliveries left unfinished by the previous run", "deliveries", n)
	}
	a.metrics = newMetrics(a.store)
	snap, err := a.reloadNow(ctx, "startup")
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.reloader = a.newReloader(snap)
	a.alerter = alert.New(alert.Options{Target: a.alertTarget, Send: a.sendNotice, Logger: a.log})
	a.dispatcher = dispatch.New(dispatch.Options{
		Log:    a.store,
		Rules:  a.Rules,
		Logger: a.log,
		OnJobs: func() { a.deliverer.Wake() },
		OnRenderFailed: func(rule, dest string) {
			a.metrics.deadLetters.WithLabelValues(dest, rule).Inc()
			a.alerter.Add(rule, dest, "the action could not be rendered (switchboard deliveries --state dead shows why)")
		},
		OnEvaluated: func(matches []string) {
			a.metrics.evaluated.Inc()
			for _, r := range matches {
				a.metrics.matches.WithLabelValues(r).Inc()
			}
		},
	})
	shared, _ := a.store.(delivery.SharedHealth) // a store shared by instances shares destination health
	a.deliverer = delivery.New(delivery.Options{
		SharedHealth:   shared,
		Outbox:         a.store,
		Senders:        a.sender,
		Limiter:        a.limiter,
		Render:         a.render,
		Workers:        cfg.Workers,
		PerDestination: cfg.PerDestination,
		MaxAttempts:    cfg.MaxAttempts,
		Schedule:       cfg.RetrySchedule,
		Retry:          a.retryPolicy,
		MaxAge:         cfg.MaxAge,
		Lease:          cfg.SendTimeout*2 + 30*time.Second,
		Logger:         a.log,
		Redact:         func(s string) string { return a.Rules().Redact(s) },
		OnDead: func(rule, dest, reason string) {
			a.metrics.deadLetters.WithLabelValues(dest, rule).Inc()
			a.alerter.Add(rule, dest, reason)
		},
		OnResult: func(kind, dest, outcome string, latency time.Duration) {
			a.metrics.deliveries.WithLabelValues(kind, dest, outcome).Inc()
			a.metrics.latency.WithLabelValues(kind).Observe(latency.Seconds())
		},
	})
	a.metrics.reg.MustRegister(newHealthCollector(a.deliverer.Health))
	if a.console, err = a.newConsole(); err != nil {
		a.store.Close()
		return nil, err
	}
	a.handler, a.adminH = a.routes()
	return a, nil
}

// Handler is the public listener's HTTP interface (tests mount it on an
// httptest.Server): everything without Config.AdminAddr, else only the
// hooks, /healthz and /readyz.
func (a *App) Handler() http.Handler { return a.handler }

// AdminHandler is the admin listener's HTTP interface: /api/, /-/reload,
// /status, /metrics and the probes. Without Config.AdminAddr it is Handler.
func (a *App) AdminHandler() http.Handler { return a.adminH }

// IngestURL is the URL to paste into Cooby, with the first token.
func (a *App) IngestURL(base string) string { return base + "/hooks/cooby/" + a.tokens[0] }

// AdminToken is the bearer token of /api/ and /-/reload.
func (a *App) AdminToken() string { return a.adminTok }

// Listen binds the configured address (and the admin address, if any);
// Run serves on them. Separate so that callers can learn the address (":0")
// before serving. It writes the URLs the CLI uses to find the server into
// the data directory (see ReadPublicURL, ReadAdminURL).
func (a *App) Listen() (net.Addr, error) {
	l, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", a.cfg.Addr, err)
	}
	adminURL := "http://" + dialable(l.Addr())
	if a.cfg.AdminAddr != "" {
		al, err := net.Listen("tcp", a.cfg.AdminAddr)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("listening on the admin address %s: %w", a.cfg.AdminAddr, err)
		}
		a.adminListener = al
		adminURL = "http://" + dialable(al.Addr())
	}
	a.listener = l
	if err := writeURLs(a.cfg.Data, "http://"+dialable(l.Addr()), adminURL); err != nil {
		a.log.Warn("could not record the server's URLs for the CLI; pass --server / --url to it", "err", err)
	}
	return l.Addr(), nil
}

// AdminAddr is the bound admin address after Listen, nil without
// Config.AdminAddr (the public address serves the admin API then).
func (a *App) AdminAddr() net.Addr {
	if a.adminListener == nil {
		return nil
	}
	return a.adminListener.Addr()
}

// Run serves until ctx is done or the store fails, then shuts down in
// order: stop accepting (drain HTTP), stop reloading, stop evaluating, let
// in-flight deliveries finish, close the store. It returns nil after a
// clean stop. While it runs, the rules are reloaded when their files
// change (see internal/reload).
func (a *App) Run(ctx context.Context) error {
	if a.listener == nil {
		if _, err := a.Listen(); err != nil {
			return err
		}
	}
	srv := ingest.NewServer(a.cfg.Addr, a.handler)
	var adminSrv *http.Server
	if a.adminListener != nil {
		adminSrv = ingest.NewServer(a.cfg.AdminAddr, a.adminH)
	}
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.runDispatcher(workCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("dispatch: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := a.deliverer.Run(workCtx); err != nil && !errors.Is(err, context.Canceled) {
			errc <- fmt.Errorf("delivery: %w", err)
		}
	}()
	go func() {
		if err := srv.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	if adminSrv != nil {
		go func() {
			if err := adminSrv.Serve(a.adminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin http server: %w", err)
			}
		}()
	}
	reloadCtx, stopReload := context.WithCancel(context.Background())
	defer stopReload()
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		if err := a.reloader.Run(reloadCtx); err != nil {
			a.log.Error("rules reloading stopped", "err", err)
		}
	}()
	a.ready.Store(true)
	var runErr error
	go a.pruneDedupeKeys(workCtx)
	go a.alerter.Run(workCtx)
	failed := a.watchStore(ctx)
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-failed:
	}
	a.ready.Store(false)
	a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout)
	shutCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		a.log.Warn("http drain incomplete", "err", err)
	}
	if adminSrv != nil {
		if err := adminSrv.Shutdown(shutCtx); err != nil {
			a.log.Warn("admin http drain incomplete", "err", err)
		}
	}
	stopReload()
	select {
	case <-reloaded:
	case <-shutCtx.Done():
	}
	stopWork()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		a.log.Warn("workers did not stop in time; unfinished deliveries resume after restart")
	}
	if err := a.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing the store: %w", err)
	}
	return runErr
}

// pruneDedupeKeys forgets, every hour, the dedupe keys older than the
// window (the store never forgets one younger than 7 days), then deletes
// what is older than the retention window (see store.PruneOld).
func (a *App) pruneDedupeKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	if _, shared := a.store.(interface{ Holds() bool }); shared {
		// Let the instances settle who evaluates (and so prunes) first.
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * a.cfg.LeaseTTL):
		}
	}
	for {
		if !a.housekeeper() {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				continue
			}
		}
		if n, err := a.store.Prune(ctx, time.Now().Add(-a.cfg.DedupeWindow)); err != nil && ctx.Err() == nil {
			a.log.Warn("pruning dedupe keys failed", "err", err)
		} else if n > 0 {
			a.log.Info("pruned dedupe keys", "keys", n)
		}
		if a.cfg.Retention > 0 {
			a.retain(ctx, time.Now().Add(-a.cfg.Retention))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// housekeeper reports whether this instance prunes: on a store of its
// own always; on a shared one only the evaluator does (one pass at a time,
// rather than every instance deleting the same rows at once).
func (a *App) housekeeper() bool {
	h, ok := a.store.(interface{ Holds() bool })
	return !ok || h.Holds()
}

// retain runs one retention pass and reports it.
func (a *App) retain(ctx context.Context, before time.Time) {
	p, err := a.store.PruneOld(ctx, before, store.PruneBatch)
	a.metrics.observePruned(p)
	if err != nil && ctx.Err() == nil {
		a.log.Warn("deleting data older than the retention window failed; the next pass tries again", "err", err)
	}
	if p.Total() > 0 {
		a.log.Info("deleted data older than the retention window", "before", before.UTC().Format(time.RFC3339),
			"events", p.Events, "deliveries", p.Jobs, "attempts", p.Attempts, "quarantined", p.Quarantine, "runs", p.Runs, "pages_freed", p.Pages)
	}
}

// watchStore reports a failed store: the process must stop acknowledging
// and exit rather than carry on after a failed fsync.
func (a *App) watchStore(ctx context.Context) <-chan error {
	out := make(chan error, 1)
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.store.Err(); err != nil {
					a.log.Error("the store failed; stopping", "err", err)
					out <- err
					return
				}
			}
		}
	}()
	return out
}

// Close releases the store of an App that was never Run.
func (a *App) Close() error { return a.store.Close() }
