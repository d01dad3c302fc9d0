package app

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
)

// openStore opens the configured store: PostgreSQL when Config.Store is
// set, else SQLite in Config.Data.
func (a *App) openStore(ctx context.Context) (store.Backend, error) {
	if a.cfg.Store == "" {
		return store.Open(ctx, a.cfg.Data, store.Options{MaxBytes: a.cfg.DiskBudget, MaxBatch: a.cfg.CommitBatch, Logger: a.log, OnCommit: a.observeCommit})
	}
	s, err := pgstore.Open(ctx, a.cfg.Store, pgstore.Options{Instance: a.cfg.Instance, MaxBytes: a.cfg.DiskBudget,
		MaxBatch: a.cfg.CommitBatch, Logger: a.log, OnCommit: a.observeCommit})
	if err != nil {
		return nil, err
	}
	a.log.Info("using the shared PostgreSQL store", "instance", s.Instance(), "lease_ttl", a.cfg.LeaseTTL)
	return s, nil
}

// shared is what a store shared by several instances offers: the
// evaluation lease, heartbeats and the list of instances.
type shared interface {
	TryLease(ctx context.Context, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, ttl time.Duration) error
	DropLease(ctx context.Context) error
	Heartbeat(ctx context.Context, rules, program string) error
	MarkStarted(ctx context.Context, rules, program string) error
	Cluster(ctx context.Context, since time.Duration) (pgstore.Cluster, error)
}

// programVersion is the module's version as built.
func programVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "devel"
}

// runDispatcher runs the evaluation worker until ctx ends. On a store of
// its own it simply runs. On a shared store it runs only while this
// instance holds the evaluation lease: it tries to take it every third of
// the lease time, renews it as often while it holds it, and stops
// evaluating (before the lease could lapse) when it cannot renew; every
// takeover starts from the state in the store (Dispatcher.Reset). Commits
// are fenced by the lease's epoch in the store, so an instance that lost
// the lease without noticing cannot write.
func (a *App) runDispatcher(ctx context.Context) error {
	sh, ok := a.store.(shared)
	if !ok {
		return a.dispatcher.Run(ctx)
	}
	ttl := a.cfg.LeaseTTL
	every := ttl / 3
	rulesVersion := func() string {
		if rs := a.Rules(); rs != nil {
			return rs.Version
		}
		return ""
	}
	if err := sh.MarkStarted(ctx, rulesVersion(), programVersion()); err != nil {
		a.log.Warn("recording this instance failed", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { // heartbeats, for /status
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := sh.Heartbeat(ctx, rulesVersion(), programVersion()); err != nil && ctx.Err() == nil {
					a.log.Warn("recording this instance's heartbeat failed", "err", err)
				}
				if c, err := sh.Cluster(ctx, 3*ttl); err == nil {
					a.setPeers(len(c.Instances))
				}
			}
		}
	})
	for {
		held, err := sh.TryLease(ctx, ttl)
		if err != nil && ctx.Err() == nil {
			a.log.Warn("taking the evaluation lease failed; trying again", "err", err)
		}
		if held {
			a.log.Info("this instance now evaluates events (it holds the evaluation lease)")
			a.evaluateWhileHeld(ctx, sh, ttl)
			if ctx.Err() != nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := sh.DropLease(dctx); err != nil {
					a.log.Warn("giving up the evaluation lease failed; another instance takes it when it lapses", "err", err)
				}
				cancel()
				return nil
			}
			a.log.Warn("this instance lost the evaluation lease; another instance evaluates")
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// evaluateWhileHeld runs the dispatcher until ctx ends or the lease is
// lost (or cannot be renewed for two thirds of its time).
func (a *App) evaluateWhileHeld(ctx context.Context, sh shared, ttl time.Duration) {
	lctx, lost := context.WithCancel(ctx)
	defer lost()
	var wg sync.WaitGroup
	wg.Go(func() {
		defer lost()
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(lctx, ttl/3)
			err := sh.RenewLease(rctx, ttl)
			cancel()
			switch {
			case err == nil:
				renewed = time.Now()
			case errors.Is(err, pgstore.ErrLeaseLost):
				return
			case lctx.Err() != nil:
				return
			default:
				a.log.Warn("renewing the evaluation lease failed", "err", err)
				if time.Since(renewed) > 2*ttl/3 {
					return // stop before the lease lapses under us
				}
			}
		}
	})
	a.dispatcher.Reset()
	if err := a.dispatcher.Run(lctx); err != nil {
		a.log.Error("dispatch stopped", "err", fmt.Errorf("dispatch: %w", err))
	}
	lost()
	wg.Wait()
}

// cluster is the instances sharing the store, for /status (nil on a store
// of its own).
func (a *App) cluster(ctx context.Context) (*pgstore.Cluster, error) {
	sh, ok := a.store.(shared)
	if !ok {
		return nil, nil
	}
	c, err := sh.Cluster(ctx, 3*a.cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	return &c, nil
}
