package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// deletableEvent is the condition on an events row that lets retention
// delete it: evaluated, older than the window ($1), and nothing pending
// refers to it.
const deletableEvent = `evaluated AND received_at < $1
	AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM open_group_items g WHERE g.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM open_groups g WHERE g.event_id = events.id)`

// PruneOld deletes what is older than before and no longer needed, as
// store.Store.PruneOld does, batch rows per statement (each its own
// transaction), so that it never holds long locks. Pruned.Pages is 0
// (PostgreSQL's autovacuum reuses the space).
func (s *Store) PruneOld(ctx context.Context, before time.Time, batch int) (store.Pruned, error) {
	if batch <= 0 {
		batch = store.PruneBatch
	}
	var total store.Pruned
	cut := ms(before)
	steps := []struct {
		query string
		n     *int64
	}{
		{`WITH gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('done', 'dead') AND updated_at < $1 ORDER BY id LIMIT $2) RETURNING id),
			a AS (DELETE FROM attempts WHERE job_id IN (SELECT id FROM gone) RETURNING 1)
			SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM a)`, nil},
		{`WITH gone AS (DELETE FROM events WHERE id IN (SELECT id FROM events WHERE ` + deletableEvent + ` ORDER BY id LIMIT $2) RETURNING id),
			m AS (DELETE FROM matches WHERE event_id IN (SELECT id FROM gone) RETURNING 1)
			SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM m)`, nil},
		{`WITH gone AS (DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at < $1 ORDER BY id LIMIT $2) RETURNING 1) SELECT COUNT(*), 0 FROM gone`, &total.Quarantine},
		{`WITH gone AS (DELETE FROM runs WHERE ctid IN (SELECT ctid FROM runs WHERE ran_at < $1 LIMIT $2) RETURNING 1) SELECT COUNT(*), 0 FROM gone`, &total.Runs},
		{`WITH gone AS (DELETE FROM matches WHERE ctid IN (SELECT ctid FROM matches WHERE event_id < 0 AND matched_at < $1 LIMIT $2) RETURNING 1) SELECT COUNT(*), 0 FROM gone`, &total.Matches},
	}
	for i, q := range steps {
		for {
			var n, m int64
			if err := s.pool.QueryRow(ctx, q.query, cut, batch).Scan(&n, &m); err != nil {
				return total, fmt.Errorf("prune old rows: %w", err)
			}
			switch i {
			case 0:
				total.Jobs += n
				total.Attempts += m
			case 1:
				total.Events += n
				total.Matches += m
			default:
				*q.n += n
			}
			if n < int64(batch) {
				break
			}
		}
	}
	return total, nil
}
