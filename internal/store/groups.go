package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// GroupDue is a group whose window has ended: the events it collected.
type GroupDue struct {
	ID       int64
	Rule     string
	Key      string
	EventIDs []int64
}

// DueGroups returns up to max groups whose window ended by now, with their
// events in id order.
func (s *Store) DueGroups(ctx context.Context, now time.Time, max int) ([]GroupDue, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, rule, key FROM groups WHERE flushed = 0 AND window_end <= ? ORDER BY window_end, id LIMIT ?`, ms(now), max)
	if err != nil {
		return nil, fmt.Errorf("read due groups: %w", err)
	}
	var out []GroupDue
	for rows.Next() {
		var g GroupDue
		if err := rows.Scan(&g.ID, &g.Rule, &g.Key); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read due groups: %w", err)
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read due groups: %w", err)
	}
	for i := range out {
		ids, err := s.groupEvents(ctx, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].EventIDs = ids
	}
	return out, nil
}

func (s *Store) groupEvents(ctx context.Context, id int64) ([]int64, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT event_id FROM group_items WHERE group_id = ? ORDER BY event_id`, id)
	if err != nil {
		return nil, fmt.Errorf("read group %d: %w", id, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var e int64
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("read group %d: %w", id, err)
		}
		ids = append(ids, e)
	}
	return ids, rows.Err()
}

// FlushGroup closes group id and, in the same transaction, enqueues its
// jobs (under eventID, the group's first event). Flushing twice is an error
// wrapping ErrNotFound, so a group acts once.
func (s *Store) FlushGroup(ctx context.Context, id, eventID int64, version string, jobs []NewJob) error {
	err := s.write(ctx, func(w *wtx) error {
		var one int
		err := w.one(`UPDATE groups SET flushed = 1 WHERE id = ? AND flushed = 0 RETURNING 1`, []any{id}, &one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("no open group: %w", ErrNotFound)
		}
		if err != nil {
			return err
		}
		return insertJobs(w, eventID, version, jobs, ms(w.now))
	}, nil)
	if err != nil {
		return fmt.Errorf("flush group %d: %w", id, err)
	}
	return nil
}
