package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// eventColumns are the columns scanEvent reads, in order.
const eventColumns = `id, received_at, body, dedupe_key, duplicate_of`

func eventColumnsOf(alias string) string {
	return alias + ".id, " + alias + ".received_at, " + alias + ".body, " + alias + ".dedupe_key, " + alias + ".duplicate_of"
}

// scanEvent scans the columns before, then eventColumns.
func scanEvent(row pgx.Row, before ...any) (store.Event, error) {
	var (
		e   store.Event
		at  int64
		key []byte
		dup *int64
	)
	if err := row.Scan(append(before, &e.ID, &at, &e.Body, &key, &dup)...); err != nil {
		return store.Event{}, err
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	e.ReceivedAt = fromMS(at)
	e.DedupeKey = string(key)
	if dup != nil {
		e.DuplicateOf = *dup
	}
	return e, nil
}

func (s *Store) queryEvents(ctx context.Context, what, query string, args ...any) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	var out []store.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}

// Event returns one stored event, or an error wrapping store.ErrNotFound.
func (s *Store) Event(ctx context.Context, id int64) (store.Event, error) {
	e, err := scanEvent(s.pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Event{}, fmt.Errorf("event %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Event{}, fmt.Errorf("read event %d: %w", id, err)
	}
	return e, nil
}

// ReadEvents returns up to max events with id > after, in id order. With
// several instances appending, an event with a lower id may still become
// visible later: this is a listing (for diffs), not the evaluation read
// (see Unevaluated).
func (s *Store) ReadEvents(ctx context.Context, after int64, max int) ([]store.Event, error) {
	if max <= 0 {
		return nil, fmt.Errorf("read events: max must be positive, got %d", max)
	}
	return s.queryEvents(ctx, fmt.Sprintf("events after %d", after),
		`SELECT `+eventColumns+` FROM events WHERE id > $1 ORDER BY id LIMIT $2`, after, max)
}

// Unevaluated returns up to max committed events not yet evaluated, in id
// order. An event that commits late (a lower id than one already
// evaluated) is returned by a later call: nothing committed is skipped.
func (s *Store) Unevaluated(ctx context.Context, max int) ([]store.Event, error) {
	if max <= 0 {
		return nil, fmt.Errorf("read events: max must be positive, got %d", max)
	}
	return s.queryEvents(ctx, "events not yet evaluated",
		`SELECT `+eventColumns+` FROM events WHERE NOT evaluated ORDER BY id LIMIT $1`, max)
}

// EventsReceived returns up to max events received in (since, until], in
// id order, for digests.
func (s *Store) EventsReceived(ctx context.Context, since, until time.Time, max int) ([]store.Event, error) {
	return s.queryEvents(ctx, "events received since "+since.Format(time.RFC3339),
		`SELECT `+eventColumns+` FROM events WHERE received_at > $1 AND received_at <= $2 ORDER BY id LIMIT $3`,
		ms(since), ms(until), max)
}

// Cursor returns the highest event id evaluated.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var c int64
	if err := s.pool.QueryRow(ctx, `SELECT position FROM cursors WHERE name = 'dispatch'`).Scan(&c); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	return c, nil
}
