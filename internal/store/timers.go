package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Timer is a due check of a delayed rule for one stored event.
type Timer struct {
	ID      int64
	Rule    string
	EventID int64
	DueAt   time.Time
}

// DueTimers returns up to max timers due at or before now, earliest first.
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int) ([]Timer, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, rule, event_id, due_at FROM timers
		WHERE done = 0 AND due_at <= ? ORDER BY due_at, id LIMIT ?`, ms(now), max)
	if err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		var (
			t   Timer
			due int64
		)
		if err := rows.Scan(&t.ID, &t.Rule, &t.EventID, &due); err != nil {
			return nil, fmt.Errorf("read due timers: %w", err)
		}
		t.DueAt = fromMS(due)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read due timers: %w", err)
	}
	return out, nil
}

// NextTimer returns when the earliest pending timer is due, or the zero
// time if none is pending.
func (s *Store) NextTimer(ctx context.Context) (time.Time, error) {
	var due sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MIN(due_at) FROM timers WHERE done = 0`).Scan(&due); err != nil {
		return time.Time{}, fmt.Errorf("read next timer: %w", err)
	}
	if !due.Valid {
		return time.Time{}, nil
	}
	return fromMS(due.Int64), nil
}

// FireTimer marks timer id done and, in the same transaction, enqueues the
// jobs of the check (none if the rule no longer held), decided by the rules
// of the given version. Firing a timer twice is an error wrapping
// ErrNotFound, so a check acts once even across a crash.
func (s *Store) FireTimer(ctx context.Context, id int64, version string, jobs []NewJob) error {
	err := s.write(ctx, func(w *wtx) error {
		var eventID int64
		err := w.one(`UPDATE timers SET done = 1 WHERE id = ? AND done = 0 RETURNING event_id`, []any{id}, &eventID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no pending timer: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		return insertJobs(w, eventID, version, jobs, ms(w.now))
	}, nil)
	if err != nil {
		return fmt.Errorf("fire timer %d: %w", id, err)
	}
	return nil
}

// Event returns one stored event.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	var (
		e        Event
		received int64
		key      sql.NullString
		dup      sql.NullInt64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT id, received_at, body, dedupe_key, duplicate_of FROM events WHERE id = ?`, id).
		Scan(&e.ID, &received, &e.Body, &key, &dup)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, fmt.Errorf("event %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Event{}, fmt.Errorf("read event %d: %w", id, err)
	}
	e.ReceivedAt, e.DedupeKey, e.DuplicateOf = fromMS(received), key.String, dup.Int64
	return e, nil
}
