package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// Quarantine durably keeps raw, a body that failed to parse, with the
// reason; only the newest Options.QuarantineMax are kept.
func (s *Store) Quarantine(ctx context.Context, raw []byte, reason string) (int64, error) {
	body := bytes.Clone(raw)
	if body == nil {
		body = []byte{}
	}
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO quarantine (received_at, reason, body) VALUES ($1, $2, $3) RETURNING id`,
			ms(s.opt.Now()), truncate(reason, maxText), body).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM quarantine WHERE id < (
			SELECT MIN(id) FROM (SELECT id FROM quarantine ORDER BY id DESC LIMIT $1) AS newest)`, s.opt.QuarantineMax)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("quarantine body: %w", err)
	}
	return id, nil
}

// ListQuarantine returns up to limit quarantined bodies, newest first,
// without their bytes. Zero limit means 100.
func (s *Store) ListQuarantine(ctx context.Context, limit int) ([]store.Quarantined, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []store.Quarantined
	err := scanRows(ctx, s.pool, `SELECT id, received_at, reason, LENGTH(body) FROM quarantine ORDER BY id DESC LIMIT $1`, []any{limit},
		func(r pgx.Rows) error {
			var (
				q    store.Quarantined
				at   int64
				size int32
			)
			if err := r.Scan(&q.ID, &at, &q.Reason, &size); err != nil {
				return err
			}
			q.ReceivedAt, q.Size = fromMS(at), int(size)
			out = append(out, q)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}

// GetQuarantine returns one quarantined body with its bytes, or an error
// wrapping store.ErrNotFound.
func (s *Store) GetQuarantine(ctx context.Context, id int64) (store.Quarantined, error) {
	q := store.Quarantined{ID: id}
	var at int64
	err := s.pool.QueryRow(ctx, `SELECT received_at, reason, body FROM quarantine WHERE id = $1`, id).Scan(&at, &q.Reason, &q.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Quarantined{}, fmt.Errorf("get quarantined body %d: %w", id, err)
	}
	if q.Body == nil {
		q.Body = []byte{}
	}
	q.ReceivedAt, q.Size = fromMS(at), len(q.Body)
	return q, nil
}

// DeleteQuarantine deletes one quarantined body, or returns an error
// wrapping store.ErrNotFound.
func (s *Store) DeleteQuarantine(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM quarantine WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete quarantined body %d: %w", id, err)
	}
	return nil
}
