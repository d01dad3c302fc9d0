package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

const jobColumns = `id, event_id, rule, ruleset_version, action, kind, destination,
	request, idempotency_key, attempts, next_attempt_at, lease_until, queued_at`

func scanJob(r pgx.Row, extra ...any) (store.Job, error) {
	var (
		j                   store.Job
		action, attempts    int32
		next, lease, queued int64
	)
	dest := append([]any{&j.ID, &j.EventID, &j.Rule, &j.RulesetVersion, &action, &j.Kind, &j.Destination,
		&j.Request, &j.IdempotencyKey, &attempts, &next, &lease, &queued}, extra...)
	if err := r.Scan(dest...); err != nil {
		return j, err
	}
	j.Action, j.Attempts = int(action), int(attempts)
	j.NextAttemptAt, j.LeaseUntil, j.QueuedAt = fromMS(next), fromMS(lease), fromMS(queued)
	return j, nil
}

// Claim leases up to max due jobs until now+lease, oldest due first. The
// jobs are picked FOR UPDATE SKIP LOCKED, so instances claiming at once
// take different jobs without waiting for one another; a job whose
// instance dies before its outcome is recorded is claimable again when the
// lease lapses (or at once when that instance restarts: ReleaseLeases).
func (s *Store) Claim(ctx context.Context, now time.Time, max int, lease time.Duration) ([]store.Job, error) {
	if max <= 0 || lease <= 0 {
		return nil, fmt.Errorf("claim jobs: max (%d) and lease (%v) must be positive", max, lease)
	}
	rows, err := s.pool.Query(ctx, `UPDATE jobs SET lease_until = $1, claimed_by = $2, updated_at = $3
		WHERE id IN (
			SELECT id FROM jobs
			WHERE state IN ('pending', 'retry') AND next_attempt_at <= $4 AND lease_until <= $4
			ORDER BY next_attempt_at, id
			LIMIT $5
			FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, ms(now.Add(lease)), s.opt.Instance, ms(s.opt.Now()), ms(now), max)
	if err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	defer rows.Close()
	var jobs []store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("claim jobs: %w", err)
		}
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim jobs: %w", err)
	}
	slices.SortFunc(jobs, func(a, b store.Job) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

const maxText = 4096

func checkResult(r store.Result) error {
	switch r.Outcome {
	case store.OutcomeDone, store.OutcomeDead:
		if r.Snooze {
			return fmt.Errorf("snooze needs outcome %q, got %q", store.OutcomeRetry, r.Outcome)
		}
	case store.OutcomeRetry:
		if r.RetryAt.IsZero() {
			return errors.New("retry needs RetryAt")
		}
	default:
		return fmt.Errorf("unknown outcome %q", r.Outcome)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// FinishMany records several attempts, each as store.Store.FinishMany
// does, in one transaction: one UPDATE of the jobs still pending, one
// INSERT of their attempts. An item whose job is not pending (done or dead
// already, for example by another instance after a lapsed lease) gets an
// error wrapping store.ErrNotFound.
func (s *Store) FinishMany(ctx context.Context, items []store.Finished) ([]error, error) {
	errs := make([]error, len(items))
	var (
		idx                        []int
		ids, nexts, lat, ats       []int64
		outcomes, texts            []string
		counted, snoozed, statuses []int32
		seen                       = map[int64]bool{}
		later                      []store.Finished
		laterIdx                   []int
		now                        = s.opt.Now()
	)
	for i, it := range items {
		if err := checkResult(it.Result); err != nil {
			errs[i] = fmt.Errorf("finish job %d: %w", it.ID, err)
			continue
		}
		if seen[it.ID] { // a job twice: its second outcome applies after the first
			later, laterIdx = append(later, it), append(laterIdx, i)
			continue
		}
		seen[it.ID] = true
		r := it.Result
		at := r.At
		if at.IsZero() {
			at = now
		}
		next := at
		if r.Outcome == store.OutcomeRetry {
			next = r.RetryAt
		}
		c, sn := int32(1), int32(0)
		if r.Snooze {
			c, sn = 0, 1
		}
		idx = append(idx, i)
		ids, nexts, lat, ats = append(ids, it.ID), append(nexts, ms(next)), append(lat, r.Latency.Microseconds()), append(ats, ms(at))
		outcomes, texts = append(outcomes, string(r.Outcome)), append(texts, truncate(r.Error, maxText))
		counted, snoozed, statuses = append(counted, c), append(snoozed, sn), append(statuses, int32(r.Status))
	}
	if len(ids) > 0 {
		updated := map[int64]bool{}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `UPDATE jobs SET state = v.o, attempts = attempts + v.c, next_attempt_at = v.n,
					lease_until = 0, claimed_by = '', last_status = v.st, last_error = v.e, updated_at = $8
				FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[], $7::int[]) AS v(id, o, c, n, st, e, sn)
				WHERE jobs.id = v.id AND jobs.state IN ('pending', 'retry')
				RETURNING jobs.id`, ids, outcomes, counted, nexts, statuses, texts, snoozed, ms(now))
			if err != nil {
				return err
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, id := range got {
				updated[id] = true
			}
			_, err = tx.Exec(ctx, `INSERT INTO attempts (job_id, at, outcome, snoozed, status, error, latency_us)
				SELECT v.id, v.at, v.o, v.sn, v.st, v.e, v.l
				FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[], $5::int[], $6::text[], $7::bigint[]) AS v(id, at, o, sn, st, e, l)
				WHERE v.id = ANY($8)`, ids, ats, outcomes, snoozed, statuses, texts, lat, got)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("finish %d jobs: %w", len(ids), err)
		}
		for k, i := range idx {
			if !updated[ids[k]] {
				errs[i] = fmt.Errorf("finish job %d: no pending job: %w", ids[k], store.ErrNotFound)
			}
		}
	}
	if len(later) > 0 {
		more, err := s.FinishMany(ctx, later)
		if err != nil {
			return nil, err
		}
		for k, i := range laterIdx {
			errs[i] = more[k]
		}
	}
	return errs, nil
}

// where returns f's SQL conditions with placeholders from $1, and args.
func where(f store.Filter) (string, []any, error) {
	conds := []string{"true"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.State != "" {
		switch f.State {
		case store.StatePending, store.StateRetry, store.StateDone, store.StateDead:
		default:
			return "", nil, fmt.Errorf("unknown state %q", f.State)
		}
		add("state = $%d", f.State)
	}
	if f.Rule != "" {
		add("rule = $%d", f.Rule)
	}
	if f.Destination != "" {
		add("destination = $%d", f.Destination)
	}
	if f.Kind != "" {
		add("kind = $%d", f.Kind)
	}
	if f.EventID != 0 {
		add("event_id = $%d", f.EventID)
	}
	if f.BeforeID != 0 {
		add("id < $%d", f.BeforeID)
	}
	return strings.Join(conds, " AND "), args, nil
}

// ListDeliveries returns the jobs matching f, newest first.
func (s *Store) ListDeliveries(ctx context.Context, f store.Filter) ([]store.Delivery, error) {
	w, args, err := where(f)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	var out []store.Delivery
	err = scanRows(ctx, s.pool, `SELECT `+jobColumns+`, state, last_status, last_error, created_at, updated_at
		FROM jobs WHERE `+w+fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)), args, func(r pgx.Rows) error {
		var (
			d                Delivery
			status           int32
			created, updated int64
		)
		j, err := scanJob(r, &d.State, &status, &d.LastError, &created, &updated)
		if err != nil {
			return err
		}
		d.Job, d.LastStatus = j, int(status)
		d.CreatedAt, d.UpdatedAt = fromMS(created), fromMS(updated)
		out = append(out, store.Delivery(d))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Delivery is store.Delivery (local name for scanning).
type Delivery = store.Delivery

// Requeue puts one dead or done job back to pending, due now, attempts
// reset; an error wraps store.ErrNotFound if there is none with that id.
func (s *Store) Requeue(ctx context.Context, id int64) error {
	now := ms(s.opt.Now())
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = $1, lease_until = 0, claimed_by = '',
			updated_at = $1, queued_at = $1
		WHERE id = $2 AND state IN ('dead', 'done')`, now, id)
	if err != nil {
		return fmt.Errorf("requeue job %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("requeue job %d: no dead or done job: %w", id, store.ErrNotFound)
	}
	return nil
}

// RequeueDead puts the dead letters matching f back to pending and returns
// how many.
func (s *Store) RequeueDead(ctx context.Context, f store.Filter) (int, error) {
	if f.State != "" && f.State != store.StateDead {
		return 0, fmt.Errorf("requeue dead letters: filter state is %q, want %q or empty", f.State, store.StateDead)
	}
	f.State = store.StateDead
	w, args, err := where(f)
	if err != nil {
		return 0, fmt.Errorf("requeue dead letters: %w", err)
	}
	sel := `SELECT id FROM jobs WHERE ` + w + ` ORDER BY id`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		sel += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	args = append(args, ms(s.opt.Now()))
	tag, err := s.pool.Exec(ctx, fmt.Sprintf(`UPDATE jobs SET state = 'pending', attempts = 0, next_attempt_at = $%[1]d, lease_until = 0, claimed_by = '',
			updated_at = $%[1]d, queued_at = $%[1]d WHERE id IN (`+sel+`)`, len(args)), args...)
	if err != nil {
		return 0, fmt.Errorf("requeue dead letters: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ReleaseDestination makes every job waiting for destination due at now.
func (s *Store) ReleaseDestination(ctx context.Context, destination string, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET next_attempt_at = $1, updated_at = $2
		WHERE state IN ('pending', 'retry') AND destination = $3 AND next_attempt_at > $1`, ms(now), ms(s.opt.Now()), destination)
	if err != nil {
		return 0, fmt.Errorf("release deliveries to %q: %w", destination, err)
	}
	return int(tag.RowsAffected()), nil
}

// ReleaseLeases voids the delivery leases this instance (by its name) held
// in a previous run, so that a restarted instance resends what it had
// claimed at once; the other instances' leases are theirs.
func (s *Store) ReleaseLeases(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE jobs SET lease_until = 0, claimed_by = ''
		WHERE state IN ('pending', 'retry') AND lease_until > 0 AND claimed_by = $1`, s.opt.Instance)
	if err != nil {
		return 0, fmt.Errorf("release leases: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
