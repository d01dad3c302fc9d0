package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// request is one write handed to the writer goroutine.
type request struct {
	ctx context.Context
	// run does the writes inside the batch transaction.
	run func(w *wtx) error
	// append, instead of run, is an Append's event: the writer stores the
	// events of a batch's appends together (appendMany), before the other
	// requests.
	append *appendArgs
	// isolated runs the request inside a SAVEPOINT, so that its error undoes
	// only its own writes and the rest of the batch still commits. Appends are
	// not isolated: their statements fail only when the whole file does.
	isolated bool
	// lean requests run without a SAVEPOINT (two statements fewer) and
	// promise that an error wrapping ErrNotFound means they wrote nothing:
	// that error is theirs alone; any other aborts the batch.
	lean bool
	// durable makes the batch commit with synchronous=FULL (fsync before
	// COMMIT returns). Only writes whose loss could not be recovered need
	// it: Append (the 202 promise) and Quarantine (the only copy of a body).
	// The others commit with synchronous=NORMAL: in WAL mode they survive a
	// process crash, and a power loss can only undo work that is redone
	// (a dispatch Commit re-evaluates, a lost Finish re-sends with the same
	// idempotency key, a lost Claim is void anyway). A durable commit also
	// makes every earlier one durable, since the WAL is written in order.
	durable bool
	// finish, if set, runs on the writer goroutine with the final outcome:
	// nil once the batch committed, else the error the caller receives.
	finish func(err error)
	done   chan error // buffered; receives the outcome once
}

// submit hands r to the writer and waits for its outcome. enqueued reports
// whether the writer took r (and so will call r.finish). A caller whose ctx
// ends first gets ctx's error, although the write may still commit; the
// writer skips requests whose ctx ended before their batch began.
//
// Durable requests and the others wait in separate queues, so that the
// writer can give the other requests (delivery bookkeeping, dispatch
// commits) a place in every batch however many Appends are queued.
func (s *Store) submit(ctx context.Context, r *request) (enqueued bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := s.Err(); err != nil {
		return false, err
	}
	r.ctx = ctx
	r.done = make(chan error, 1)
	q := s.side
	if r.durable {
		q = s.reqs
	}

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return false, ErrClosed
	}
	s.inFlight(r, 1)
	select {
	case q <- r:
	case <-ctx.Done():
		s.inFlight(r, -1)
		s.mu.RUnlock()
		return false, ctx.Err()
	}
	s.mu.RUnlock()

	select {
	case err := <-r.done:
		return true, err
	case <-ctx.Done():
		return true, ctx.Err()
	}
}

// inFlight counts r in (d = 1) or out of (d = -1) the writes on their way
// to the writer.
func (s *Store) inFlight(r *request, d int64) {
	s.queued.Add(d)
	if r.durable {
		s.queuedDur.Add(d)
	}
}

// write runs an isolated request, not durable (see request.durable), and
// returns its outcome.
func (s *Store) write(ctx context.Context, run func(w *wtx) error, finish func(error)) error {
	_, err := s.submit(ctx, &request{run: run, isolated: true, finish: finish})
	return err
}

// writeLean runs a lean request (see request.lean): for the hot delivery
// bookkeeping, whose only expected failure is "not found".
func (s *Store) writeLean(ctx context.Context, run func(w *wtx) error) error {
	_, err := s.submit(ctx, &request{run: run, lean: true})
	return err
}

// writeDurable is write for a request that must be fsynced before it is
// answered.
func (s *Store) writeDurable(ctx context.Context, run func(w *wtx) error, finish func(error)) error {
	_, err := s.submit(ctx, &request{run: run, isolated: true, durable: true, finish: finish})
	return err
}

// maxYields bounds how many times collect lets other goroutines run while
// each yield still brings more requests.
const maxYields = 4

// collector is the writer goroutine's batching state.
type collector struct {
	s *Store
	// dur and side are the two queues; each is set to nil once closed.
	dur, side chan *request
	// lastDur is the number of durable requests in the last batch that had
	// any: the concurrency the writer expects to see again.
	lastDur int
	// lastDurAt is when that batch was collected.
	lastDurAt time.Time
	buf       []*request
}

// writer is the single goroutine that owns the write connection. It runs
// until Close closes the queues and every queued request has been answered.
func (s *Store) writer() {
	defer close(s.writerDone)
	w := &wtx{conn: s.wconn, stmts: make(map[string]*sql.Stmt)}
	defer w.closeStmts()
	c := &collector{s: s, dur: s.reqs, side: s.side}
	for c.dur != nil || c.side != nil {
		var first *request
		select {
		case r, ok := <-c.dur:
			if !ok {
				c.dur = nil
				continue
			}
			first = r
		case r, ok := <-c.side:
			if !ok {
				c.side = nil
				continue
			}
			first = r
		}
		s.inFlight(first, -1)
		s.runBatch(w, c.collect(first))
	}
}

// try takes a request from q without waiting; nil if there is none (a
// closed q is set to nil).
func (c *collector) try(q *chan *request) *request {
	if *q == nil {
		return nil
	}
	select {
	case r, ok := <-*q:
		if !ok {
			*q = nil
			return nil
		}
		c.s.inFlight(r, -1)
		return r
	default:
		return nil
	}
}

// collect gathers a batch starting with first, of at most MaxBatch requests.
//
// Non-durable requests get up to half of every batch, taken first, so that
// a flood of Appends cannot push delivery bookkeeping back batch after
// batch; the rest is filled with durable requests, then with more of the
// others if there is room.
//
// Beyond what is queued, collect gathers writes that are on their way:
//   - it yields (runtime.Gosched) while that brings more requests, so that
//     goroutines that are runnable but have not reached the queue yet get to
//     it first. On one P the writer would otherwise commit each request
//     alone, ahead of the callers it just answered;
//   - it waits, up to MaxWait per batch, while write calls are between
//     entering submit and reaching the queue, and while a durable batch holds
//     fewer durable requests than the previous durable batch did (recent
//     batches showed that many concurrent writers). A lone write after a
//     lone write is committed at once.
func (c *collector) collect(first *request) []*request {
	s := c.s
	maxBatch := s.opt.MaxBatch
	sideCap := max(1, maxBatch/2)
	batch := c.buf[:0]
	nside, ndur := 0, 0
	add := func(r *request) {
		batch = append(batch, r)
		if r.durable {
			ndur++
		} else {
			nside++
		}
	}
	add(first)
	drain := func() {
		for nside < sideCap && len(batch) < maxBatch {
			r := c.try(&c.side)
			if r == nil {
				break
			}
			add(r)
		}
		for len(batch) < maxBatch {
			r := c.try(&c.dur)
			if r == nil {
				break
			}
			add(r)
		}
	}
	drain()
	if s.opt.MaxWait >= 0 {
		for range maxYields {
			if len(batch) >= maxBatch {
				break
			}
			n := len(batch)
			runtime.Gosched()
			drain()
			if len(batch) == n {
				break
			}
		}
		var timer *time.Timer
	wait:
		for len(batch) < maxBatch && (s.queued.Load() > 0 || (ndur > 0 && ndur < c.lastDur) || c.ingestBusy(ndur)) {
			side := c.side
			if nside >= sideCap {
				side = nil
			}
			if c.dur == nil && side == nil {
				break
			}
			if timer == nil { // the wait is bounded per batch, not per request
				timer = time.NewTimer(s.opt.MaxWait)
				defer timer.Stop()
			}
			var r *request
			ok := true
			select {
			case r, ok = <-c.dur:
				if !ok {
					c.dur = nil
				}
			case r, ok = <-side:
				if !ok {
					c.side = nil
				}
			case <-timer.C:
				break wait
			}
			if ok {
				s.inFlight(r, -1)
				add(r)
				drain()
			}
		}
	}
	// Top up with other requests that arrived meanwhile.
	for len(batch) < maxBatch {
		r := c.try(&c.side)
		if r == nil {
			break
		}
		add(r)
	}
	if ndur > 0 {
		c.lastDur, c.lastDurAt = ndur, time.Now()
	}
	c.buf = batch
	return batch
}

// ingestBusy reports whether a batch of only non-durable requests should
// wait (up to MaxWait) for durable ones to share its transaction: while
// concurrent Appends are flowing (the last durable batch held several and
// was moments ago), a transaction of its own would cost the waiting
// Appends its time in the writer, and its work is not urgent.
func (c *collector) ingestBusy(ndur int) bool {
	return ndur == 0 && c.lastDur > 1 && time.Since(c.lastDurAt) < busyWindow
}

// busyWindow is how recent a concurrent durable batch must be for
// ingestBusy.
const busyWindow = 10 * time.Millisecond

// CommitInfo describes one committed write transaction, for
// Options.OnCommit.
type CommitInfo struct {
	// Requests is the number of write requests the transaction held (a
	// FinishMany counts as one).
	Requests int
	// Durable is how many of them needed the commit fsynced (Appends and
	// Quarantines). The commit ran with synchronous=FULL if it is positive,
	// else with NORMAL (no fsync).
	Durable int
	// Took is how long COMMIT took: for a durable commit, mostly the fsync.
	Took time.Duration
}

// runBatch writes batch in one transaction and answers every request.
// Nothing is answered with success before COMMIT returned.
func (s *Store) runBatch(w *wtx, batch []*request) {
	if err := s.Err(); err != nil {
		finishAll(batch, err)
		return
	}
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			finishOne(r, err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	w.now = s.opt.Now()
	w.throttled = 0

	ndur := 0
	for _, r := range live {
		if r.durable {
			ndur++
		}
	}
	durable := ndur > 0
	if err := w.setSync(durable); err != nil {
		finishAll(live, s.fail(fmt.Errorf("set synchronous mode: %w", err)))
		return
	}
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		finishAll(live, s.fail(fmt.Errorf("begin write batch: %w", err)))
		return
	}
	var appends []*appendArgs
	for _, r := range live {
		if r.append != nil {
			appends = append(appends, r.append)
		}
	}
	if err := appendMany(w, appends); err != nil {
		s.abort(w, live, fmt.Errorf("write batch of %d: %w", len(live), err))
		return
	}
	errs := make([]error, len(live))
	for i, r := range live {
		if r.append != nil {
			continue
		}
		opErr, batchErr := runOne(w, r)
		if batchErr != nil {
			s.abort(w, live, fmt.Errorf("write batch of %d: %w", len(live), batchErr))
			return
		}
		errs[i] = opErr
	}
	if s.opt.beforeCommit != nil {
		if err := s.opt.beforeCommit(); err != nil {
			_, _ = w.exec("ROLLBACK")
			finishAll(live, s.fail(fmt.Errorf("commit write batch of %d: %w", len(live), err)))
			return
		}
	}
	start := time.Now()
	if _, err := w.exec("COMMIT"); err != nil {
		_, _ = w.exec("ROLLBACK")
		if isFull(err) {
			// The disk filled while the WAL was written: the frames lack
			// their commit mark, so the file is as it was. The batch fails;
			// the store goes on and recovers once there is room.
			s.setFull()
			finishAll(live, fmt.Errorf("commit write batch of %d: %w: %w", len(live), ErrDiskFull, err))
			return
		}
		// The transaction may or may not be on disk: trust nothing from here on.
		finishAll(live, s.fail(fmt.Errorf("commit write batch of %d: %w", len(live), err)))
		return
	}
	if ndur > 0 {
		s.fullAt.Store(0) // an event fit: there is room again
	}
	s.commits.Add(1)
	s.throttled.Add(int64(w.throttled))
	if durable {
		s.durable.Add(1)
	}
	if s.opt.OnCommit != nil {
		s.opt.OnCommit(CommitInfo{Requests: len(live), Durable: ndur, Took: time.Since(start)})
	}
	for i, r := range live {
		finishOne(r, errs[i])
	}
}

// runOne runs r. opErr is r's own failure (its writes were undone); batchErr
// means the transaction can no longer be trusted and the batch must abort.
func runOne(w *wtx, r *request) (opErr, batchErr error) {
	if !r.isolated {
		err := r.run(w)
		if r.lean && errors.Is(err, ErrNotFound) {
			return err, nil // it wrote nothing: the batch goes on
		}
		return nil, err
	}
	if _, err := w.exec("SAVEPOINT request"); err != nil {
		return nil, fmt.Errorf("open savepoint: %w", err)
	}
	if err := r.run(w); err != nil {
		if isIOClass(err) {
			return nil, err
		}
		if _, rerr := w.exec("ROLLBACK TO request"); rerr != nil {
			return nil, fmt.Errorf("undo failed request (%v): %w", err, rerr)
		}
		if _, rerr := w.exec("RELEASE request"); rerr != nil {
			return nil, fmt.Errorf("release savepoint: %w", rerr)
		}
		return err, nil
	}
	if _, err := w.exec("RELEASE request"); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	return nil, nil
}

// abort rolls the batch back and fails all its requests. An I/O-class cause
// or a failed ROLLBACK makes the store failed; other causes (such as a full
// disk) fail only this batch.
func (s *Store) abort(w *wtx, batch []*request, cause error) {
	if _, rerr := w.exec("ROLLBACK"); rerr != nil {
		cause = s.fail(errors.Join(cause, fmt.Errorf("roll back: %w", rerr)))
	} else if isIOClass(cause) {
		cause = s.fail(cause)
	} else if isFull(cause) {
		s.setFull()
		cause = fmt.Errorf("%w: %w", ErrDiskFull, cause)
	}
	finishAll(batch, cause)
}

func finishOne(r *request, err error) {
	if r.finish != nil {
		r.finish(err)
	}
	r.done <- err
}

func finishAll(batch []*request, err error) {
	for _, r := range batch {
		finishOne(r, err)
	}
}

// wtx runs statements on the writer connection. Transactions are plain
// BEGIN/COMMIT statements on one dedicated connection rather than sql.Tx,
// because database/sql re-prepares a Conn's statements for every Tx; here
// each statement is prepared once and reused for the life of the store.
// Statements run under a context that is never canceled: interrupting SQLite
// inside a transaction would roll back the whole batch.
type wtx struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
	now   time.Time // the batch's clock reading
	// relaxed is true while the connection runs with synchronous=NORMAL;
	// it opens with FULL.
	relaxed bool
	// throttled counts the matches a throttle dropped in the batch.
	throttled int
}

// setSync switches the connection between synchronous=FULL (durable) and
// NORMAL, outside any transaction, only when the mode changes.
func (w *wtx) setSync(durable bool) error {
	if w.relaxed == !durable {
		return nil
	}
	mode := "PRAGMA synchronous=FULL"
	if !durable {
		mode = "PRAGMA synchronous=NORMAL"
	}
	if _, err := w.conn.ExecContext(context.Background(), mode); err != nil {
		return err
	}
	w.relaxed = !durable
	return nil
}

func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (w *wtx) query(query string, args ...any) (*sql.Rows, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

// one runs a query expected to return one row and scans it into dest
// (sql.ErrNoRows if there is none).
func (w *wtx) one(query string, args []any, dest ...any) error {
	st, err := w.stmt(query)
	if err != nil {
		return err
	}
	return st.QueryRowContext(context.Background(), args...).Scan(dest...)
}

func (w *wtx) closeStmts() {
	for q, st := range w.stmts {
		_ = st.Close()
		delete(w.stmts, q)
	}
}
