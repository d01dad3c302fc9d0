package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

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
	if e.Body == nil {
		e.Body = []byte{} // an empty body reads back as NULL-free empty
	}
	e.ReceivedAt, e.DedupeKey, e.DuplicateOf = fromMS(received), key.String, dup.Int64
	return e, nil
}
