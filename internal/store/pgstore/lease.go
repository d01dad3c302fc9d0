package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// EvaluationLease names the lease whose holder evaluates events.
const EvaluationLease = "evaluate"

// Lease is a lease this instance holds.
type Lease struct {
	Name  string
	Epoch int64
	// Until is when it lapses unless renewed (the database's clock).
	Until time.Time
}

// TryLease takes the evaluation lease for ttl if it is free, has lapsed,
// or names this instance (a restart), each time under a new epoch. It
// reports whether this instance now holds it. While held, Commit is fenced
// by its epoch.
func (s *Store) TryLease(ctx context.Context, ttl time.Duration) (bool, error) {
	var l Lease
	err := s.pool.QueryRow(ctx, `INSERT INTO leases (name, holder, epoch, expires_at)
			VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, epoch = leases.epoch + 1, expires_at = excluded.expires_at
			WHERE leases.expires_at < now() OR leases.holder = '' OR leases.holder = excluded.holder
		RETURNING name, epoch, expires_at`, EvaluationLease, s.opt.Instance, ttl.Milliseconds()).Scan(&l.Name, &l.Epoch, &l.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("take the evaluation lease: %w", err)
	}
	s.lease.Store(&l)
	return true, nil
}

// RenewLease extends the held evaluation lease by ttl from now. It returns
// an error wrapping ErrLeaseLost if another instance took it (this one
// then no longer holds it).
func (s *Store) RenewLease(ctx context.Context, ttl time.Duration) error {
	l := s.lease.Load()
	if l == nil {
		return ErrLeaseLost
	}
	var until time.Time
	err := s.pool.QueryRow(ctx, `UPDATE leases SET expires_at = now() + $4 * interval '1 millisecond'
		WHERE name = $1 AND holder = $2 AND epoch = $3 RETURNING expires_at`,
		l.Name, s.opt.Instance, l.Epoch, ttl.Milliseconds()).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) {
		s.lease.CompareAndSwap(l, nil)
		return fmt.Errorf("renew the evaluation lease: %w", ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("renew the evaluation lease: %w", err)
	}
	n := *l
	n.Until = until
	s.lease.CompareAndSwap(l, &n)
	return nil
}

// DropLease gives the evaluation lease up (a clean stop), so that another
// instance takes it at once rather than when it lapses.
func (s *Store) DropLease(ctx context.Context) error {
	l := s.lease.Swap(nil)
	if l == nil {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE leases SET holder = '', expires_at = now() WHERE name = $1 AND holder = $2 AND epoch = $3`,
		l.Name, s.opt.Instance, l.Epoch)
	if err != nil {
		return fmt.Errorf("give up the evaluation lease: %w", err)
	}
	return nil
}

// Holds reports whether this instance holds the evaluation lease (as it
// last knew).
func (s *Store) Holds() bool { return s.lease.Load() != nil }

// Heartbeat records that this instance is alive, with the rules version
// and program version it runs.
func (s *Store) Heartbeat(ctx context.Context, rules, program string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO instances (id, version, program, started_at, seen_at) VALUES ($1, $2, $3, now(), now())
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, program = excluded.program, seen_at = now()`,
		s.opt.Instance, rules, program)
	if err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	return nil
}

// MarkStarted resets this instance's start time (call once at start).
func (s *Store) MarkStarted(ctx context.Context, rules, program string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO instances (id, version, program, started_at, seen_at) VALUES ($1, $2, $3, now(), now())
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, program = excluded.program, started_at = now(), seen_at = now()`,
		s.opt.Instance, rules, program)
	if err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	return nil
}

// InstanceInfo is one instance as /status lists it.
type InstanceInfo struct {
	ID string `json:"id"`
	// Rules is the rules version it last reported; Program its version.
	Rules   string    `json:"rules_version"`
	Program string    `json:"program_version"`
	Started time.Time `json:"started_at"`
	Seen    time.Time `json:"last_seen"`
	// Evaluating: it holds the evaluation lease (unlapsed).
	Evaluating bool `json:"evaluating"`
	// Leases is the number of deliveries it holds leases on.
	Leases int64 `json:"delivery_leases"`
}

// Cluster is the instances sharing the database.
type Cluster struct {
	Instances []InstanceInfo `json:"instances"`
	// Evaluator holds the evaluation lease, with its epoch and lapse time.
	Evaluator  string    `json:"evaluator"`
	Epoch      int64     `json:"lease_epoch"`
	LeaseUntil time.Time `json:"lease_until,omitzero"`
}

// Cluster lists the instances seen within since, and the lease.
func (s *Store) Cluster(ctx context.Context, since time.Duration) (Cluster, error) {
	var c Cluster
	err := s.pool.QueryRow(ctx, `SELECT holder, epoch, expires_at FROM leases WHERE name = $1 AND expires_at > now()`, EvaluationLease).
		Scan(&c.Evaluator, &c.Epoch, &c.LeaseUntil)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("read the evaluation lease: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT i.id, i.version, i.program, i.started_at, i.seen_at,
			(SELECT COUNT(*) FROM jobs j WHERE j.claimed_by = i.id AND j.state IN ('pending', 'retry') AND j.lease_until > $2)
		FROM instances i WHERE i.seen_at > now() - $1 * interval '1 millisecond' ORDER BY i.id`, since.Milliseconds(), ms(s.opt.Now()))
	if err != nil {
		return c, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var in InstanceInfo
		if err := rows.Scan(&in.ID, &in.Rules, &in.Program, &in.Started, &in.Seen, &in.Leases); err != nil {
			return c, fmt.Errorf("list instances: %w", err)
		}
		in.Evaluating = in.ID == c.Evaluator
		c.Instances = append(c.Instances, in)
	}
	return c, rows.Err()
}
