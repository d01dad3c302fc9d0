package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Job states.
const (
	// StatePending: waiting for its first attempt (or requeued).
	StatePending = "pending"
	// StateRetry: an attempt failed (or was snoozed); due again at NextAttemptAt.
	StateRetry = "retry"
	// StateDone: delivered.
	StateDone = "done"
	// StateDead: dead letter; LastError holds the reason. Requeue revives it.
	StateDead = "dead"
)

// Job is a claimed delivery job.
type Job struct {
	// ID identifies the job for Finish and Requeue.
	ID int64
	// EventID is the event whose evaluation produced the job.
	EventID int64
	// Rule and RulesetVersion are the matched rule and the rules' version.
	Rule           string
	RulesetVersion string
	// Action, Kind, Destination, Request and IdempotencyKey are as in NewJob.
	Action         int
	Kind           string
	Destination    string
	Request        []byte
	IdempotencyKey string
	// Attempts counts the attempts made before this one (snoozes excluded).
	Attempts int
	// NextAttemptAt is when the job was (or is) due.
	NextAttemptAt time.Time
	// LeaseUntil is when the claim lapses and another Claim may take the job;
	// zero when not leased.
	LeaseUntil time.Time
	// QueuedAt is when the job was enqueued, or requeued by a replay: the
	// delivery's age limit counts from it.
	QueuedAt time.Time
}

const jobColumns = `id, event_id, rule, ruleset_version, action, kind, destination,
	request, idempotency_key, attempts, next_attempt_at, lease_until, queued_at`

// scanArgs are the destinations of jobColumns; the times are scanned as
// unix milliseconds into t and converted by t.set.
func (j *Job) scanArgs(t *jobTimes) []any {
	return []any{&j.ID, &j.EventID, &j.Rule, &j.RulesetVersion, &j.Action, &j.Kind, &j.Destination,
		&j.Request, &j.IdempotencyKey, &j.Attempts, &t.next, &t.lease, &t.queued}
}

// jobTimes holds a job's times as stored, in unix milliseconds.
type jobTimes struct{ next, lease, queued int64 }

func (t *jobTimes) set(j *Job) {
	j.NextAttemptAt, j.LeaseUntil, j.QueuedAt = fromMS(t.next), fromMS(t.lease), fromMS(t.queued)
}

// Claim leases up to max jobs that are due (pending or retry, next attempt at
// or before now, no live lease) until now+lease, oldest due first. A job whose
// worker dies before Finish becomes claimable again when the lease lapses, so
// delivery is at least once. (On Postgres the inner SELECT takes
// FOR UPDATE SKIP LOCKED.)
func (s *Store) Claim(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Job, error) {
	if max <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim jobs: max (%d) and lease (%v) must be positive", max, lease)
	}
	var jobs []Job
	err := s.writeLean(ctx, func(w *wtx) error {
		jobs = jobs[:0]
		rows, err := w.query(`UPDATE jobs SET lease_until = ?, updated_at = ?
			WHERE id IN (
				SELECT id FROM jobs
				WHERE state IN ('pending', 'retry') AND next_attempt_at <= ? AND lease_until <= ?
				ORDER BY next_attempt_at, id
				LIMIT ?)
			RETURNING `+jobColumns,
			ms(now.Add(lease)), ms(w.now), ms(now), ms(now), max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				j  Job
				tm jobTimes
			)
			if err := rows.Scan(j.scanArgs(&tm)...); err != nil {
				return err
			}
			tm.set(&j)
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	// RETURNING promises no order.
	slices.SortFunc(jobs, func(a, b Job) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// Outcome is what an attempt led to.
type Outcome string

// Outcomes of an attempt.
const (
	// OutcomeDone: delivered; the job is finished.
	OutcomeDone Outcome = "done"
	// OutcomeRetry: try again at Result.RetryAt.
	OutcomeRetry Outcome = "retry"
	// OutcomeDead: give up; the job becomes a dead letter with Result.Error
	// as the reason.
	OutcomeDead Outcome = "dead"
)

// maxText bounds stored error and reason text.
const maxText = 4096

// Result describes one delivery attempt, recorded by Finish.
type Result struct {
	// Outcome decides the job's next state.
	Outcome Outcome
	// At is when the attempt ended; zero means now.
	At time.Time
	// Status is the sink's status code (HTTP status), 0 if none.
	Status int
	// Error is the failure text (the dead-letter reason for OutcomeDead);
	// keep secrets out of it. Longer than 4 KiB is truncated.
	Error string
	// Latency is how long the attempt took.
	Latency time.Duration
	// RetryAt is when to try again; required for OutcomeRetry.
	RetryAt time.Time
	// Snooze, with OutcomeRetry, retries without counting an attempt (for
	// example a 429 with Retry-After).
	Snooze bool
}

func (r Result) check() error {
	switch r.Outcome {
	case OutcomeDone, OutcomeDead:
		if r.Snooze {
			return fmt.Errorf("snooze needs outcome %q, got %q", OutcomeRetry, r.Outcome)
		}
	case OutcomeRetry:
		if r.RetryAt.IsZero() {
			return errors.New("retry needs RetryAt")
		}
	default:
		return fmt.Errorf("unknown outcome %q", r.Outcome)
	}
	return nil
}

// Finish records one attempt of job id and moves the job on: done, retry at
// r.RetryAt (counting an attempt unless r.Snooze), or dead. It returns an
// error wrapping ErrNotFound if the job does not exist or is already done or
// dead (for example when its lease lapsed and another worker finished it).
func (s *Store) Finish(ctx context.Context, id int64, r Result) error {
	f, err := newFinish(s, id, r)
	if err != nil {
		return fmt.Errorf("finish job %d: %w", id, err)
	}
	// Lean: "not found" is decided by the first statement, before any write.
	if err := s.writeLean(ctx, f.run); err != nil {
		return fmt.Errorf("finish job %d: %w", id, err)
	}
	return nil
}

// Finished is one outcome for FinishMany: job ID's attempt, as for Finish.
type Finished struct {
	ID     int64
	Result Result
}

// FinishMany records several attempts, each as Finish would, in one write
// request (so one place in one batch, however many). errs has one entry per
// item: nil once recorded, or the item's own failure (an invalid Result, or
// an error wrapping ErrNotFound); the other items are recorded all the same.
// A non-nil err means the request as a whole failed (the batch did not
// commit, the store failed, ctx ended first): then errs is nil and no
// outcome is known to be recorded.
func (s *Store) FinishMany(ctx context.Context, items []Finished) (errs []error, err error) {
	errs = make([]error, len(items))
	fs := make([]finish, 0, len(items))
	idx := make([]int, 0, len(items))
	for i, it := range items {
		f, err := newFinish(s, it.ID, it.Result)
		if err != nil {
			errs[i] = fmt.Errorf("finish job %d: %w", it.ID, err)
			continue
		}
		fs = append(fs, f)
		idx = append(idx, i)
	}
	if len(fs) == 0 {
		return errs, nil
	}
	found := make([]error, len(fs))
	// Not isolated: an item that is not found wrote nothing (its first
	// statement decides), and any other error aborts the batch.
	_, err = s.submit(ctx, &request{run: func(w *wtx) error { return writeOutcomes(w, fs, found) }})
	if err != nil {
		return nil, fmt.Errorf("finish %d jobs: %w", len(fs), err)
	}
	for i, f := range fs {
		if found[i] != nil {
			errs[idx[i]] = fmt.Errorf("finish job %d: %w", f.id, found[i])
		}
	}
	return errs, nil
}

// finish is one checked outcome, ready to be written.
type finish struct {
	id               int64
	r                Result
	at, next         time.Time
	counted, snoozed int
	errText          string
}

func newFinish(s *Store, id int64, r Result) (finish, error) {
	if err := r.check(); err != nil {
		return finish{}, err
	}
	f := finish{id: id, r: r, at: r.At, counted: 1, errText: truncate(r.Error, maxText)}
	if f.at.IsZero() {
		f.at = s.opt.Now()
	}
	f.next = f.at
	if r.Outcome == OutcomeRetry {
		f.next = r.RetryAt
	}
	if r.Snooze {
		f.counted, f.snoozed = 0, 1
	}
	return f, nil
}

// writeOutcomes writes outcomes with two statements per rowsPerStatement of
// them: one UPDATE of their jobs, one INSERT of their attempts. found[i]
// gets an error wrapping ErrNotFound for an outcome whose job was not
// pending (nothing written for it); any error returned aborts the batch.
func writeOutcomes(w *wtx, fs []finish, found []error) error {
	for start, end := 0, 0; start < len(fs); start = end {
		// A chunk holds a job once, so that outcomes apply in order.
		seen := map[int64]bool{}
		for end = start; end < len(fs) && end-start < rowsPerStatement && !seen[fs[end].id]; end++ {
			seen[fs[end].id] = true
		}
		chunk := fs[start:end]
		args := make([]any, 0, 1+6*len(chunk))
		args = append(args, ms(w.now))
		for _, f := range chunk {
			args = append(args, f.id, string(f.r.Outcome), f.counted, ms(f.next), f.r.Status, f.errText)
		}
		rows, err := w.query(`UPDATE jobs SET state = v.column2, attempts = attempts + v.column3, next_attempt_at = v.column4,
				lease_until = 0, last_status = v.column5, last_error = v.column6, updated_at = ?
			FROM (`+rowsQuery("VALUES", "", 6, len(chunk))+`) AS v
			WHERE jobs.id = v.column1 AND jobs.state IN ('pending', 'retry')
			RETURNING jobs.id`, args...)
		if err != nil {
			return fmt.Errorf("update %d jobs: %w", len(chunk), err)
		}
		updated := make(map[int64]bool, len(chunk))
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("update %d jobs: %w", len(chunk), err)
			}
			updated[id] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("update %d jobs: %w", len(chunk), err)
		}
		var done []finish
		for i, f := range chunk {
			found[start+i] = nil
			if !updated[f.id] {
				found[start+i] = fmt.Errorf("no pending job: %w", ErrNotFound)
				continue
			}
			done = append(done, f)
		}
		err = w.insertRows(`INSERT INTO attempts (job_id, at, outcome, snoozed, status, error, latency_us) VALUES`, ``, 7, len(done),
			func(i int, a []any) []any {
				f := done[i]
				return append(a, f.id, ms(f.at), string(f.r.Outcome), f.snoozed, f.r.Status, f.errText, f.r.Latency.Microseconds())
			})
		if err != nil {
			return fmt.Errorf("record %d attempts: %w", len(done), err)
		}
	}
	return nil
}

// run writes the outcome. An error wrapping ErrNotFound means it wrote
// nothing.
func (f finish) run(w *wtx) error {
	var attempts int
	err := w.one(`UPDATE jobs SET state = ?, attempts = attempts + ?, next_attempt_at = ?, lease_until = 0,
			last_status = ?, last_error = ?, updated_at = ?
		WHERE id = ? AND state IN ('pending', 'retry')
		RETURNING attempts`,
		[]any{string(f.r.Outcome), f.counted, ms(f.next), f.r.Status, f.errText, ms(w.now), f.id}, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no pending job: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update job: %w", err)
	}
	_, err = w.exec(`INSERT INTO attempts (job_id, at, outcome, snoozed, status, error, latency_us)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		f.id, ms(f.at), string(f.r.Outcome), f.snoozed, f.r.Status, f.errText, f.r.Latency.Microseconds())
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Delivery is a job as listed for operators.
type Delivery struct {
	Job
	// State is one of StatePending, StateRetry, StateDone, StateDead.
	State string
	// LastStatus and LastError describe the latest attempt; for a dead
	// letter, LastError is the reason.
	LastStatus int
	LastError  string
	// CreatedAt is when Commit enqueued the job; UpdatedAt its last change.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Filter selects jobs for ListDeliveries and RequeueDead. Zero fields match
// everything.
type Filter struct {
	// State is one of the State constants, or empty for any.
	State string
	// Rule, Destination and Kind match exactly when set.
	Rule        string
	Destination string
	Kind        string
	// EventID selects the jobs of one event when set.
	EventID int64
	// BeforeID keeps only ids below it, to page through ListDeliveries
	// (newest first): pass the last id of the previous page.
	BeforeID int64
	// Limit caps the rows: for ListDeliveries zero means 100; for
	// RequeueDead zero means no cap.
	Limit int
}

// where returns the SQL conditions (joined by AND, never empty) and args.
func (f Filter) where() (string, []any, error) {
	conds := []string{"1 = 1"}
	var args []any
	if f.State != "" {
		switch f.State {
		case StatePending, StateRetry, StateDone, StateDead:
		default:
			return "", nil, fmt.Errorf("unknown state %q", f.State)
		}
		// A literal (one of the constants above), so that the partial
		// indexes of dead letters apply.
		conds = append(conds, "state = '"+f.State+"'")
	}
	for _, c := range []struct {
		col, val string
	}{{"rule", f.Rule}, {"destination", f.Destination}, {"kind", f.Kind}} {
		if c.val != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	if f.EventID != 0 {
		conds = append(conds, "event_id = ?")
		args = append(args, f.EventID)
	}
	if f.BeforeID != 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.BeforeID)
	}
	return strings.Join(conds, " AND "), args, nil
}

// ListDeliveries returns the jobs matching f, newest first.
func (s *Store) ListDeliveries(ctx context.Context, f Filter) ([]Delivery, error) {
	where, args, err := f.where()
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+jobColumns+`, state, last_status, last_error, created_at, updated_at
		FROM jobs WHERE `+where+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var (
			d                Delivery
			tm               jobTimes
			created, updated int64
		)
		dest := append(d.Job.scanArgs(&tm), &d.State, &d.LastStatus, &d.LastError, &created, &updated)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("list deliveries: %w", err)
		}
		tm.set(&d.Job)
		d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Requeue puts one dead (or done, to replay it) job back to pending, due now,
// with its attempts reset. It returns an error wrapping ErrNotFound if no
// dead or done job has that id.
func (s *Store) Requeue(ctx context.Context, id int64) error {
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = 0, updated_at = ?, queued_at = ?
			WHERE id = ? AND state IN ('dead', 'done')`, ms(w.now), ms(w.now), ms(w.now), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("no dead or done job: %w", ErrNotFound)
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("requeue job %d: %w", id, err)
	}
	return nil
}

// RequeueDead puts the dead letters matching f back to pending, due now,
// with attempts reset, and returns how many. f.State must be empty or
// StateDead; f.Limit, if set, caps the count (oldest first).
func (s *Store) RequeueDead(ctx context.Context, f Filter) (int, error) {
	if f.State != "" && f.State != StateDead {
		return 0, fmt.Errorf("requeue dead letters: filter state is %q, want %q or empty", f.State, StateDead)
	}
	f.State = StateDead
	where, args, err := f.where()
	if err != nil {
		return 0, fmt.Errorf("requeue dead letters: %w", err)
	}
	sel := `SELECT id FROM jobs WHERE ` + where + ` ORDER BY id`
	if f.Limit > 0 {
		sel += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	var n int64
	err = s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = 0, updated_at = ?, queued_at = ?
			WHERE id IN (`+sel+`)`, append([]any{ms(w.now), ms(w.now), ms(w.now)}, args...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("requeue dead letters: %w", err)
	}
	return int(n), nil
}

// ReleaseDestination makes every job waiting to be sent to destination
// due at now (a destination that recovered from an outage), and returns
// how many it moved.
func (s *Store) ReleaseDestination(ctx context.Context, destination string, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE jobs SET next_attempt_at = ?, updated_at = ?
			WHERE state IN ('pending', 'retry') AND destination = ? AND next_attempt_at > ?`, ms(now), ms(w.now), destination, ms(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("release deliveries to %q: %w", destination, err)
	}
	return int(n), nil
}

// ReleaseLeases voids every lease, so that deliveries a previous process
// claimed but never finished (it crashed) are due again at once instead of
// when their leases lapse. Call it at start: the SQLite file is locked to
// one process, so no lease can belong to a live worker then. (A shared
// Postgres store would release only the leases of its own dead instance.)
func (s *Store) ReleaseLeases(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE jobs SET lease_until = 0 WHERE state IN ('pending', 'retry') AND lease_until > 0`)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	return int(n), nil
}
