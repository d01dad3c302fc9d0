// Package dispatch is the evaluation worker: it reads the events stored after
// the dispatch cursor and what is due in time (delayed checks, closing
// groups, scheduled runs), evaluates them with the conversation engine
// (engine.RuleSet.Step) against the current rules, and commits their
// matches, delivery jobs and state changes together with the new cursor,
// one transaction per batch. A crash before the commit re-evaluates the
// batch (at least once); the commit itself never half-happens, so no job is
// enqueued twice and nothing due in time runs twice.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Log is what the dispatcher needs of the event log.
type Log interface {
	// ReadEvents returns up to max events with id > after, in id order.
	ReadEvents(ctx context.Context, after int64, max int) ([]store.Event, error)
	// Commit writes a batch and moves the cursor, in one transaction.
	Commit(ctx context.Context, b store.Batch) error
	// Cursor returns the id of the last committed event.
	Cursor(ctx context.Context) (int64, error)
}

// Queue is implemented by logs whose ids are not commit-ordered (the
// PostgreSQL store, which several instances append to): an event with a
// lower id may become visible after a higher one was read, so reading
// after a cursor could skip it. The dispatcher then reads the events not
// yet evaluated instead, and the log's Commit marks Batch.Events.
type Queue interface {
	Unevaluated(ctx context.Context, max int) ([]store.Event, error)
}

// State is what the dispatcher reads of the conversation state; the
// writes go with Commit.
type State interface {
	LoadState(ctx context.Context) (*store.Loaded, error)
	Chats(ctx context.Context, ids []string) (map[string]store.Chat, error)
	AllChats(ctx context.Context, max int) (map[string]store.Chat, error)
	DueTimers(ctx context.Context, now time.Time, max int) ([]store.Timer, error)
	NextTimer(ctx context.Context) (time.Time, error)
	EventsReceived(ctx context.Context, since, until time.Time, max int) ([]store.Event, error)
}

// Options configure a Dispatcher. Log and Rules are required; the other
// fields have useful zero values.
type Options struct {
	// Log is the event log and outbox (a *store.Store).
	Log Log
	// State reads the conversation state; nil means Log, which must then
	// have it (a *store.Store does).
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
	// OnRenderFailed, if set, is called after a commit for every action
	// that could not be rendered (a dead letter from the start), with its
	// rule and destination.
	OnRenderFailed func(rule, destination string)
}

func (o Options) withDefaults() Options {
	if o.State == nil {
		o.State, _ = o.Log.(State)
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
	// st is the conversation state in memory (nil: load it before the
	// next batch): all of it but chats, which are read when a batch needs
	// them and kept up to maxCachedChats.
	st *engine.State
	// decoded holds payloads ingest has decoded, by row id, until the
	// dispatcher reads them (see Stored).
	decodedMu sync.Mutex
	decoded   map[int64]*engine.Event
	takes     int
	// nextCheck is when the earliest delayed check in the store is due
	// (zero: none), known since st was loaded: the store is asked for due
	// checks only once one is due.
	nextCheck time.Time
}

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

// maxDecoded bounds the payloads Stored keeps for the dispatcher; past it
// they are decoded again from the store.
const maxDecoded = 8192

// Stored tells the worker that the event of this row id was stored, as ev
// decoded from its body; like Wake it never blocks. The worker then uses
// ev instead of decoding the stored body again (the same bytes, so the
// same event).
func (d *Dispatcher) Stored(row int64, ev *engine.Event) {
	d.decodedMu.Lock()
	if d.decoded == nil {
		d.decoded = map[int64]*engine.Event{}
	}
	if len(d.decoded) < maxDecoded {
		d.decoded[row] = ev
	}
	d.decodedMu.Unlock()
	d.Wake()
}

// takeDecoded returns the decoded event of a row, if Stored left one,
// and forgets it and every earlier row.
func (d *Dispatcher) takeDecoded(row int64) *engine.Event {
	d.decodedMu.Lock()
	defer d.decodedMu.Unlock()
	ev := d.decoded[row]
	delete(d.decoded, row)
	// Now and then, forget rows read before Stored was called for them.
	if d.takes++; d.takes%1024 == 0 {
		for id := range d.decoded {
			if id < row {
				delete(d.decoded, id)
			}
		}
	}
	return ev
}

// Run evaluates events until ctx ends, then returns nil. Store errors are
// logged and retried after Options.Retry; no event is ever skipped because
// of one.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.opt.Log == nil || d.opt.Rules == nil || d.opt.State == nil {
		return errors.New("dispatch: Log, State and Rules are required")
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
		due := time.NewTimer(d.untilDue())
		select {
		case <-ctx.Done():
			due.Stop()
			return nil
		case <-d.wake:
		case <-tick.C:
		case <-due.C:
		}
		due.Stop()
	}
}

// untilDue is how long until something is due in time (a delayed check, a
// group closing, a scheduled run), at most Poll.
func (d *Dispatcher) untilDue() time.Duration {
	wait := d.opt.Poll
	if d.st == nil {
		return wait
	}
	next := d.nextCheck
	if rs := d.opt.Rules(); rs != nil {
		if n := rs.NextDue(d.st); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if !next.IsZero() {
		wait = min(wait, max(next.Sub(d.opt.Now()), 0))
	}
	return wait
}

// Once evaluates at most one batch of events after the cursor, with what
// is due in time, and commits it, returning how many events the cursor
// passed. It is what Run repeats; call it directly only when no Run is
// going.
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
	if d.st == nil {
		st, err := d.loadState(ctx)
		if err != nil {
			return 0, err
		}
		if d.nextCheck, err = d.opt.State.NextTimer(ctx); err != nil {
			return 0, err
		}
		d.st = st
	}
	events, err := d.read(ctx)
	if err != nil {
		return 0, err
	}
	now := d.opt.Now()
	in, err := d.inputs(ctx, rs, events, now)
	if err != nil {
		return 0, err
	}
	if in.idle() {
		return 0, nil
	}
	res := rs.Step(d.st, in.batch)
	last := d.cursor
	for _, e := range events {
		last = max(last, e.ID)
	}
	b, jobs, failed := d.toBatch(rs, res, in, last)
	if err := d.opt.Log.Commit(ctx, b); err != nil {
		// The commit may have happened anyway (a canceled ctx): re-read the
		// cursor and the state before the next batch rather than guess.
		d.cursor, d.st = -1, nil
		return 0, err
	}
	d.cursor = last
	if err := d.noteChecks(ctx, in, res); err != nil {
		return len(events), err
	}
	if len(d.st.Chats) > maxCachedChats {
		d.st.Chats = map[string]*engine.Conversation{} // read again as needed
	}
	if d.opt.OnRenderFailed != nil {
		for _, f := range failed {
			d.opt.OnRenderFailed(f[0], f[1])
		}
	}
	if d.opt.OnEvaluated != nil {
		for _, o := range res.Outcomes {
			if o.Input == engine.InputEvent {
				d.opt.OnEvaluated(matchNames(o.Plan))
			}
		}
	}
	if jobs > 0 && d.opt.OnJobs != nil {
		d.opt.OnJobs()
	}
	return len(events), nil
}

// read returns the next events to evaluate: after the cursor, or those not
// yet evaluated from a Queue.
func (d *Dispatcher) read(ctx context.Context) ([]store.Event, error) {
	if q, ok := d.opt.Log.(Queue); ok {
		return q.Unevaluated(ctx, d.opt.Batch)
	}
	return d.opt.Log.ReadEvents(ctx, d.cursor, d.opt.Batch)
}

// Reset makes the worker read its cursor and the conversation state from
// the store again before the next batch: call it (while Run is not
// running) when another process may have evaluated meanwhile, as when this
// instance takes the evaluation lease over.
func (d *Dispatcher) Reset() {
	d.cursor, d.st, d.nextCheck = -1, nil, time.Time{}
}

// noteChecks keeps nextCheck up to date after a commit: new checks may be
// due sooner; once checks ran, the store says what is next.
func (d *Dispatcher) noteChecks(ctx context.Context, in *inputs, res *engine.Result) error {
	if len(in.batch.Checks) > 0 || len(in.unreadable) > 0 {
		next, err := d.opt.State.NextTimer(ctx)
		if err != nil {
			d.st = nil // ask again before the next batch
			return err
		}
		d.nextCheck = next
		return nil
	}
	for _, t := range res.Effects.Timers {
		if d.nextCheck.IsZero() || t.Due.Before(d.nextCheck) {
			d.nextCheck = t.Due
		}
	}
	return nil
}

func matchNames(p *engine.Plan) []string {
	out := make([]string, len(p.Matches))
	for i, m := range p.Matches {
		out[i] = m.Rule.Name
	}
	return out
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
