// Package alert announces dead letters: it gathers the deliveries that
// became dead letters and sends a summary of them to the destination the
// rules file's `on_dead_letter:` names, at most one summary per window, so
// that an outage that makes thousands of dead letters sends one message,
// not thousands.
//
// Summaries are kept in memory: one not yet sent when the service stops is
// lost (the dead letters themselves are stored, counted by
// switchboard_dead_letters_total and logged at ERROR). A summary that
// cannot be sent is merged into the next.
package alert

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

// Target is where summaries go, from the running rules.
type Target struct {
	Destination string
	// Every is the shortest time between two summaries.
	Every time.Duration
}

// Options configure an Alerter. Target and Send are required.
type Options struct {
	// Target returns the running rules' on_dead_letter: (ok false: none;
	// dead letters are then only logged and counted).
	Target func() (Target, bool)
	// Send delivers a notice to a destination.
	Send func(ctx context.Context, destination string, n actions.Notice) error
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Alerter gathers dead letters and sends their summaries. Add may be
// called from any goroutine; Run sends.
type Alerter struct {
	opt  Options
	wake chan struct{}

	mu      sync.Mutex
	pending batch
	sent    time.Time // when the last summary was sent
}

// batch is the dead letters of one summary.
type batch struct {
	groups      map[key]*group
	count       int
	first, last time.Time
}

type key struct{ destination, rule string }

type group struct {
	count  int
	reason string // the latest
}

// maxGroups bounds the destination/rule pairs a summary lists one by
// one; the rest are counted together.
const maxGroups = 20

// others is the group of the dead letters past maxGroups.
var others = key{destination: "", rule: ""}

func (b *batch) add(k key, count int, reason string, first, last time.Time) {
	if b.groups == nil {
		b.groups = map[key]*group{}
	}
	g := b.groups[k]
	if g == nil {
		if len(b.groups) >= maxGroups {
			k = others
			g = b.groups[k]
		}
		if g == nil {
			g = &group{}
			b.groups[k] = g
		}
	}
	g.count += count
	if reason != "" {
		g.reason = reason
	}
	if b.count == 0 || first.Before(b.first) {
		b.first = first
	}
	if last.After(b.last) {
		b.last = last
	}
	b.count += count
}

// New returns an Alerter; it sends nothing until Run.
func New(opt Options) *Alerter {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Alerter{opt: opt, wake: make(chan struct{}, 1)}
}

// Add records a new dead letter of rule to destination, and why (text
// whose secrets were removed). Without on_dead_letter: it does nothing.
func (a *Alerter) Add(rule, destination, reason string) {
	if _, ok := a.opt.Target(); !ok {
		return
	}
	now := a.opt.Now()
	a.mu.Lock()
	a.pending.add(key{destination, rule}, 1, reason, now, now)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// gather is how long after a first dead letter its summary waits for
// others (those of an outage come together), at most a tenth of the
// window.
const gather = 10 * time.Second

// Run sends summaries until ctx ends: the first dead letter after a quiet
// window is announced within seconds, later ones once the window since the
// last summary has passed.
func (a *Alerter) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		wait, ok := a.due()
		if ok && wait <= 0 {
			a.send(ctx)
			continue
		}
		if ok {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// due returns how long until the pending dead letters are to be sent
// (ok false: none pending).
func (a *Alerter) due() (time.Duration, bool) {
	t, ok := a.opt.Target()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pending.count == 0 {
		return 0, false
	}
	if !ok {
		a.pending = batch{} // on_dead_letter: was removed
		return 0, false
	}
	at := a.pending.first.Add(min(gather, t.Every/10))
	if next := a.sent.Add(t.Every); !a.sent.IsZero() && next.After(at) {
		at = next
	}
	return at.Sub(a.opt.Now()), true
}

// send sends the pending summary. If it cannot be sent, it goes back to
// pending, merged with what came meanwhile, and is tried again a window
// later.
func (a *Alerter) send(ctx context.Context) {
	t, ok := a.opt.Target()
	a.mu.Lock()
	b := a.pending
	a.pending = batch{}
	a.sent = a.opt.Now()
	a.mu.Unlock()
	if !ok || b.count == 0 {
		return
	}
	n := Summary(b.snapshot())
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err := a.opt.Send(sctx, t.Destination, n)
	cancel()
	if err != nil {
		a.opt.Logger.Warn("alert: the dead-letter summary could not be sent; it is sent again with the next one",
			"destination", t.Destination, "dead_letters", b.count, "err", err)
		a.mu.Lock()
		for k, g := range b.groups {
			a.pending.add(k, g.count, "", b.first, b.last)
			if p := a.pending.groups[k]; p != nil && p.reason == "" {
				p.reason = g.reason
			}
		}
		a.mu.Unlock()
		return
	}
	a.opt.Logger.Info("alert: dead-letter summary sent", "destination", t.Destination, "dead_letters", b.count)
}
