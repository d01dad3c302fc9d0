// Package dispatch is the evaluation worker: it reads the events stored after
// the dispatch cursor, evaluates them against the current rules, and commits
// their matches and delivery jobs together with the new cursor, one
// transaction per batch. A crash before the commit re-evaluates the batch
// (at least once); the commit itself never half-happens, so no job is
// enqueued twice.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Log is what the dispatcher needs from the store.
type Log interface {
	// ReadEvents returns up to max events with id > after, in id order.
	ReadEvents(ctx context.Context, after int64, max int) ([]store.Event, error)
	// Commit writes the results and moves the cursor, in one transaction.
	Commit(ctx context.Context, cursor int64, results []store.Evaluated) error
	// Cursor returns the id of the last committed event.
	Cursor(ctx context.Context) (int64, error)
}

// Options configure a Dispatcher. Log and Rules are required; the other
// fields have useful zero values.
type Options struct {
	// Log is the event log and outbox (a *store.Store).
	Log Log
	// State reads conversation states and the team directory; nil means
	// Log, if it has them (a *store.Store does), else none are kept.
	State State
	// Rules returns the current rules. It is called once per batch, so every
	// event of a batch is decided by one version. While it returns nil
	// nothing is evaluated and the cursor stays put.
	Rules func() *engine.RuleSet
	// Batch is the most events read and committed at once; 0 means 256.
	Batch int
	// Poll is how often the log is read without a Wake, as a safety net;
	// 0 means 500ms.
	Poll time.Duration
	// Retry is the pause after a store error before trying again; 0 means 1s.
	Retry time.Duration
	// Now returns the current time, both `now()` in rules and when new jobs
	// are due; nil means time.Now.
	Now func() time.Time
	// Logger receives the worker's logs; nil means slog.Default().
	Logger *slog.Logger
	// OnEvaluated, if set, is called once per evaluated event after its
	// batch committed, with the names of the rules that matched.
	OnEvaluated func(matches []string)
	// OnJobs, if set, is called after a commit that enqueued jobs (to wake
	// the delivery workers).
	OnJobs func()
}

func (o Options) withDefaults() Options {
	if o.State == nil {
		if st, ok := o.Log.(State); ok {
			o.State = st
		} else {
			o.State = noState{}
		}
	}
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Dispatcher is the evaluation worker. Run it in one goroutine.
type Dispatcher struct {
	opt  Options
	wake chan struct{}
	// cursor is the last committed event id as this worker knows it; -1
	// means unknown (read it from the log before the next batch).
	cursor int64
	// team is the team directory (normalized numbers), read once.
	team map[string]bool
}

// noState keeps no conversation state.
type noState struct{}

func (noState) Chats(context.Context, []string) (map[string][]byte, error) { return nil, nil }
func (noState) TeamPhones(context.Context) ([]string, error)               { return nil, nil }

// New returns a Dispatcher. It does nothing until Run.
func New(opts Options) *Dispatcher {
	return &Dispatcher{opt: opts.withDefaults(), wake: make(chan struct{}, 1), cursor: -1}
}

// Wake tells the worker that new events may be waiting. It never blocks,
// and many calls before the worker looks count as one. Ingest calls it after
// each Append.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run evaluates events until ctx ends, then returns nil. Store errors are
// logged and retried after Options.Retry; no event is ever skipped because
// of one.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.opt.Log == nil || d.opt.Rules == nil {
		return errors.New("dispatch: Log and Rules are required")
	}
	tick := time.NewTicker(d.opt.Poll)
	defer tick.Stop()
	for {
		n, err := d.Once(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.opt.Logger.Error("dispatch: evaluating events failed; retrying", "err", err, "retry_in", d.opt.Retry)
			if !sleep(ctx, d.opt.Retry) {
				return nil
			}
			continue
		case n == d.opt.Batch:
			continue // a full batch: more are probably waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// Once evaluates at most one batch of events after the cursor and commits
// it, returning how many events the cursor passed. It is what Run repeats;
// call it directly only when no Run is going.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	rs := d.opt.Rules()
	if rs == nil {
		return 0, nil
	}
	if d.cursor < 0 {
		c, err := d.opt.Log.Cursor(ctx)
		if err != nil {
			return 0, err
		}
		d.cursor = c
	}
	events, err := d.opt.Log.ReadEvents(ctx, d.cursor, d.opt.Batch)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	results, jobs, err := d.evaluate(ctx, rs, events)
	if err != nil {
		return 0, err
	}
	last := events[len(events)-1].ID
	if err := d.opt.Log.Commit(ctx, last, results); err != nil {
		// The commit may have happened anyway (a canceled ctx): re-read the
		// cursor before the next batch rather than guess.
		d.cursor = -1
		return 0, err
	}
	d.cursor = last
	if d.opt.OnEvaluated != nil {
		for _, r := range results {
			d.opt.OnEvaluated(r.Matched)
		}
	}
	if jobs > 0 && d.opt.OnJobs != nil {
		d.opt.OnJobs()
	}
	return len(events), nil
}

// sleep waits for d or ctx, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
