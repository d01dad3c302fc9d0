// Package delivery runs the delivery workers: they claim due jobs from the
// outbox, send each job's stored request through the destination's Sender,
// and record the outcome: done, retry later (by the retry schedule, with
// jitter, or at the time a Retry-After asked for), or dead.
//
// Delivery is at least once. A job is leased while it is sent; if the
// process stops before the outcome is recorded, the lease lapses and the job
// is sent again, with the same idempotency key, which HTTP-shaped kinds pass
// on as the Idempotency-Key header.
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Outbox is what the delivery workers need from the store.
type Outbox interface {
	// Claim leases up to max due jobs until now+lease.
	Claim(ctx context.Context, now time.Time, max int, lease time.Duration) ([]store.Job, error)
	// FinishMany records attempts and moves their jobs on, all in one write
	// request; errs holds each item's own failure, err a failure of the
	// whole (see store.Store.FinishMany).
	FinishMany(ctx context.Context, items []store.Finished) (errs []error, err error)
}

// Options configure a Deliverer. Outbox and Senders are required; the
// other fields have useful zero values.
type Options struct {
	// Outbox holds the jobs (a *store.Store).
	Outbox Outbox
	// Senders returns the sender for a kind and destination name (empty for
	// actions without a destination), from the current rules. An error,
	// such as a destination that is no longer defined, makes the job dead
	// with the error as the reason.
	Senders func(kind, destination string) (actions.Sender, error)
	// Workers is the most jobs sent at once; 0 means 8.
	Workers int
	// PerDestination is the most jobs sent at once to one destination; 0
	// means 4. A worker whose job's destination is busy waits for it.
	PerDestination int
	// Timeout bounds one attempt (the context given to Send); senders apply
	// their own, usually shorter, timeouts inside it. 0 means 1m. It is
	// capped at half of Lease, so an attempt ends before its lease does.
	Timeout time.Duration
	// Lease is how long a claimed job is reserved for its attempt; 0 means
	// 2m. A job whose attempt outlives it can be claimed again.
	Lease time.Duration
	// Schedule is the delay before each retry of a failed attempt, each
	// jittered by up to a fifth either way; a job that fails when its
	// retries are spent is dead. Empty means actions.DefaultSchedule
	// (about three days).
	Schedule []time.Duration
	// Retry, if set, returns a destination's own retry policy (its
	// `retry:`); its zero fields mean Schedule and MaxAge.
	Retry func(destination string) actions.Retry
	// Backoff spaces the probes of a paused destination.
	Backoff Backoff
	// MaxAttempts, if positive, caps the attempts of a job (snoozes from
	// Retry-After and probes of a paused destination not counted) below
	// what the schedule allows; 0 means the schedule's retries plus one.
	MaxAttempts int
	// MaxAge is how long after it was enqueued (or replayed) a job may
	// still be retried: a retry due later is made at that age, and a job
	// that fails (or is snoozed) when older is dead. 0 means 72h.
	MaxAge time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand draws the jitter; nil means a randomly seeded generator. Tests
	// pass a seeded one.
	Rand *rand.Rand
	// Redact, if set, is applied to error text before it is logged or
	// stored (the service passes the current rules' Redact).
	Redact func(string) string
	// Logger receives the workers' logs; nil means slog.Default().
	Logger *slog.Logger
	// OnResult, if set, is called after every attempt with the job's kind
	// and destination, the outcome (done, retry or dead) and the attempt's
	// duration.
	OnResult func(kind, destination, outcome string, latency time.Duration)
	// Render, if set, renders again the action of a job whose first
	// rendering failed (see Unrendered), when that dead letter is
	// replayed; without it such a job stays dead.
	Render func(ctx context.Context, j store.Job) (actions.Request, error)
	// Limiter, if set, returns the rate limiter of a destination (nil: no
	// limit). A send waits for it (see attempt); waiting spends no attempt.
	Limiter func(destination string) *rate.Limiter
	// OnDead, if set, is called for every job that became a dead letter,
	// with its rule, destination and reason (redacted), after the outcome
	// was recorded.
	OnDead func(rule, destination, reason string)
	// Poll is how often due jobs are looked for without a Wake (retries
	// come due this way); 0 means 1s.
	Poll time.Duration
	// SharedHealth, if set, keeps the destinations' health (see health.go)
	// where every instance sharing the store sees it (nil: in memory, for
	// this process alone). Nil by default; the service sets it on a
	// PostgreSQL store.
	SharedHealth SharedHealth
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.PerDestination <= 0 {
		o.PerDestination = 4
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	o.Timeout = min(o.Timeout, o.Lease/2)
	o.Backoff = o.Backoff.withDefaults()
	if len(o.Schedule) == 0 {
		o.Schedule = actions.DefaultSchedule
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.Redact == nil {
		o.Redact = func(s string) string { return s }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	return o
}

// finishTimeout bounds recording an outcome, also during shutdown.
const finishTimeout = 10 * time.Second

// Deliverer runs the delivery workers.
type Deliverer struct {
	opt    Options
	wake   chan struct{}
	jitter *jitter
	dests  limiter
	health health
	// outcomes holds the attempts whose outcome waits to be recorded.
	outcomes chan outcome
}

// New returns a Deliverer. It does nothing until Run.
func New(opts Options) *Deliverer {
	opts = opts.withDefaults()
	return &Deliverer{
		opt:    opts,
		wake:   make(chan struct{}, 1),
		jitter: &jitter{r: opts.Rand},
		dests:  limiter{per: opts.PerDestination},
		health: health{shared: opts.SharedHealth, probeHold: opts.Lease, log: opts.Logger},
		// A worker hands its outcome over and takes the next job; when
		// the store falls this far behind, workers wait for it.
		outcomes: make(chan outcome, opts.Workers),
	}
}

// Wake tells the workers that new jobs may be due. It never blocks, and
// many calls before the workers look count as one. The dispatcher calls it
// after enqueuing jobs.
func (d *Deliverer) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run claims and sends due jobs until ctx ends. Then it stops claiming,
// lets the attempts under way finish (each within Options.Timeout), records
// their outcomes and returns nil. Jobs claimed but not yet started are left
// to be claimed again when their lease lapses. Call Run once.
//
// Outcomes are recorded by one goroutine that hands every outcome waiting
// at the time to the store as one write request (FinishMany), so delivery
// bookkeeping costs the store's writer one request per batch of attempts
// rather than one per attempt; a worker is free for its next job as soon as
// it has handed its outcome over.
func (d *Deliverer) Run(ctx context.Context) error {
	if d.opt.Outbox == nil || d.opt.Senders == nil {
		return errors.New("delivery: Outbox and Senders are required")
	}
	if d.health.shared != nil {
		go d.refreshHealth(ctx)
	}
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		d.record()
	}()
	// Workers take jobs from queue; the loop below keeps it filled, ahead
	// of the workers by up to their number, so that a worker that frees up
	// need not wait for a claim to go through the store's writer.
	// outstanding counts the jobs claimed whose attempt has not ended.
	capacity := 2 * d.opt.Workers
	queue := make(chan store.Job, capacity)
	done := make(chan struct{}, capacity) // one send per ended attempt
	var wg sync.WaitGroup
	for range d.opt.Workers {
		wg.Go(func() {
			for j := range queue {
				if ctx.Err() == nil { // shutting down: start nothing new
					d.attempt(ctx, j)
				}
				done <- struct{}{}
			}
		})
	}
	defer func() {
		close(queue) // the jobs still queued are left to their leases
		wg.Wait()
		close(d.outcomes)
		<-recorded
	}()
	tick := time.NewTicker(d.opt.Poll)
	defer tick.Stop()

	outstanding := 0
	more := true // jobs may be due: claim when there is room
	// Claim in chunks of at least a quarter of the workers (or when all
	// are idle): a claim is a write transaction, and claiming one job per
	// finished send would make the store's writer the bottleneck under
	// load. While a claim waits for the writer, the workers go on with
	// the jobs queued, so the next claim is larger.
	chunk := max(1, d.opt.Workers/4)
	for {
		room := capacity - outstanding
		if more && (outstanding == 0 || room >= chunk) {
			jobs, err := d.opt.Outbox.Claim(ctx, d.opt.Now(), room, d.opt.Lease)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				d.opt.Logger.Error("delivery: claiming jobs failed", "err", err)
			}
			for _, j := range jobs {
				outstanding++
				queue <- j // never blocks: outstanding <= capacity
			}
			// A full claim suggests more are due; otherwise wait for a
			// Wake or the next poll (after an error, the poll retries).
			more = err == nil && len(jobs) == room
		}
		// Count the attempts that ended meanwhile before claiming again.
		for drained := false; !drained; {
			select {
			case <-done:
				outstanding--
			default:
				drained = true
			}
		}
		if more && capacity-outstanding >= chunk {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			outstanding--
		case <-d.wake:
			more = true
		case <-tick.C:
			more = true
		}
	}
}

// limiter bounds concurrent sends per destination.
type limiter struct {
	per  int
	mu   sync.Mutex
	sems map[string]*sem
}

type sem struct {
	slots chan struct{}
	users int // holders and waiters; the sem is dropped at zero
}

// acquire takes a slot for key, waiting at most wait (not at all if wait
// is not positive) and not after ctx ends. It returns the release function,
// or false if no slot was taken.
func (l *limiter) acquire(ctx context.Context, key string, wait time.Duration) (func(), bool) {
	l.mu.Lock()
	if l.sems == nil {
		l.sems = make(map[string]*sem)
	}
	s := l.sems[key]
	if s == nil {
		s = &sem{slots: make(chan struct{}, l.per)}
		l.sems[key] = s
	}
	s.users++
	l.mu.Unlock()

	leave := func() {
		l.mu.Lock()
		s.users--
		if s.users == 0 {
			delete(l.sems, key)
		}
		l.mu.Unlock()
	}
	release := func() { <-s.slots; leave() }
	select {
	case s.slots <- struct{}{}:
		return release, true
	default:
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case s.slots <- struct{}{}:
			return release, true
		case <-ctx.Done():
		case <-t.C:
		}
	}
	leave()
	return nil, false
}

// healthRefresh is how often the shared destination health is read: how
// soon an instance learns that another one paused (or resumed) a
// destination.
const healthRefresh = time.Second

// refreshHealth reads the shared destination health until ctx ends.
func (d *Deliverer) refreshHealth(ctx context.Context) {
	t := time.NewTicker(healthRefresh)
	defer t.Stop()
	for {
		if err := d.health.refresh(ctx); err != nil && ctx.Err() == nil {
			d.opt.Logger.Warn("delivery: reading the destinations' shared health failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
