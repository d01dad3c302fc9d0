package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Quarantined is a kept body that failed to parse.
type Quarantined struct {
	// ID identifies the body for GetQuarantine and DeleteQuarantine.
	ID int64
	// ReceivedAt is when Quarantine stored it.
	ReceivedAt time.Time
	// Reason says why it failed to parse.
	Reason string
	// Size is len(Body).
	Size int
	// Body is the raw body, byte-exact; ListQuarantine leaves it nil.
	Body []byte
}

// Quarantine durably keeps raw, a body that failed to parse, with the reason,
// so it can be replayed after a parser fix. Only the newest
// Options.QuarantineMax bodies are kept; older ones are dropped.
func (s *Store) Quarantine(ctx context.Context, raw []byte, reason string) (int64, error) {
	body := bytes.Clone(raw)
	if body == nil {
		body = []byte{}
	}
	reason = truncate(reason, maxText)
	keep := s.opt.QuarantineMax
	var id int64
	err := s.writeDurable(ctx, func(w *wtx) error {
		err := w.one(`INSERT INTO quarantine (received_at, reason, body) VALUES (?, ?, ?) RETURNING id`,
			[]any{ms(w.now), reason, body}, &id)
		if err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		_, err = w.exec(`DELETE FROM quarantine WHERE id < (
				SELECT MIN(id) FROM (SELECT id FROM quarantine ORDER BY id DESC LIMIT ?) AS newest)`, keep)
		if err != nil {
			return fmt.Errorf("drop oldest: %w", err)
		}
		return nil
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("quarantine body: %w", err)
	}
	return id, nil
}

// ListQuarantine returns up to limit quarantined bodies, newest first,
// without their bytes (see GetQuarantine). Zero limit means 100.
func (s *Store) ListQuarantine(ctx context.Context, limit int) ([]Quarantined, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT id, received_at, reason, LENGTH(body) FROM quarantine ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var (
			q  Quarantined
			at int64
		)
		if err := rows.Scan(&q.ID, &at, &q.Reason, &q.Size); err != nil {
			return nil, fmt.Errorf("list quarantine: %w", err)
		}
		q.ReceivedAt = fromMS(at)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// GetQuarantine returns one quarantined body with its bytes, or an error
// wrapping ErrNotFound.
func (s *Store) GetQuarantine(ctx context.Context, id int64) (Quarantined, error) {
	var (
		q  = Quarantined{ID: id}
		at int64
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT received_at, reason, body FROM quarantine WHERE id = ?`, id).
		Scan(&at, &q.Reason, &q.Body)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Quarantined{}, fmt.Errorf("get quarantined body %d: %w", id, err)
	}
	if q.Body == nil {
		q.Body = []byte{}
	}
	q.ReceivedAt, q.Size = fromMS(at), len(q.Body)
	return q, nil
}

// DeleteQuarantine deletes one quarantined body (after it was replayed, say),
// or returns an error wrapping ErrNotFound.
func (s *Store) DeleteQuarantine(ctx context.Context, id int64) error {
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM quarantine WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("delete quarantined body %d: %w", id, err)
	}
	return nil
}
