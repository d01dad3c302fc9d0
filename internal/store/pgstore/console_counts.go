package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// The console's counts: the overview's charts, the destinations' recent
// outcomes, a replay's progress and the deliveries' time filter, with the
// meaning of the SQLite store's (internal/store/console_counts.go).

// ReadSeries counts events and delivery attempts in n buckets of step from
// start, and the matches of rules of the events received from matchesFrom
// to the end of the period. As in the SQLite store, the events and the
// attempts of a bucket are the difference of the first ids at or after
// its two ends (ids grow with the time received, closely enough across
// instances for a chart); retries and dead letters are counted over the
// index by outcome, done is the rest. It reads one snapshot.
func (s *Store) ReadSeries(ctx context.Context, start time.Time, step time.Duration, n int, rules []string, matchesFrom time.Time) (store.Series, error) {
	out := store.Series{Start: start, Step: step, N: n, Events: make([]int64, n), Outcomes: map[string][]int64{}, Matches: map[string]int64{}}
	from, stepMS := ms(start), step.Milliseconds()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return out, fmt.Errorf("read the charts: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
	evIDs, err := firstIDs(ctx, tx, "events", "received_at", from, stepMS, n)
	if err != nil {
		return out, fmt.Errorf("count events: %w", err)
	}
	atIDs, err := firstIDs(ctx, tx, "attempts", "at", from, stepMS, n)
	if err != nil {
		return out, fmt.Errorf("count delivery attempts: %w", err)
	}
	done := make([]int64, n)
	for i := range n {
		out.Events[i] = max(0, evIDs[i+1]-evIDs[i])
		done[i] = max(0, atIDs[i+1]-atIDs[i])
	}
	out.Outcomes[store.StateDone] = done
	for _, outcome := range []string{store.StateRetry, store.StateDead} {
		rows, err := tx.Query(ctx, `SELECT (SELECT COUNT(*) FROM attempts WHERE outcome = $1 AND at >= $2::bigint + g * $3::bigint AND at < $2::bigint + (g + 1) * $3::bigint)
			FROM generate_series(0, $4::int - 1) g ORDER BY g`, outcome, from, stepMS, n)
		if err != nil {
			return out, fmt.Errorf("count delivery attempts: %w", err)
		}
		v, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(v) != n {
			return out, fmt.Errorf("count delivery attempts: %d buckets: %v", len(v), err)
		}
		for i := range n {
			done[i] = max(0, done[i]-v[i])
		}
		out.Outcomes[outcome] = v
	}
	lo, hi := evIDs[0], evIDs[n]
	if matchesFrom.After(start) {
		ids, err := firstIDs(ctx, tx, "events", "received_at", ms(matchesFrom), 0, 0)
		if err != nil {
			return out, fmt.Errorf("count matches: %w", err)
		}
		lo = ids[0]
	}
	if len(rules) > 0 {
		rows, err := tx.Query(ctx, `SELECT rule, COUNT(*) FROM matches WHERE rule = ANY($1) AND event_id >= $2 AND event_id < $3 GROUP BY rule`, rules, lo, hi)
		if err != nil {
			return out, fmt.Errorf("count matches: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				rule string
				c    int64
			)
			if err := rows.Scan(&rule, &c); err != nil {
				return out, fmt.Errorf("count matches: %w", err)
			}
			out.Matches[rule] = c
		}
		if err := rows.Err(); err != nil {
			return out, fmt.Errorf("count matches: %w", err)
		}
	}
	return out, nil
}

// firstIDs returns, for the n+1 bucket ends from+i*stepMS, the first id of
// table at or after that time in column col (one past the last id if
// none is), in one query.
func firstIDs(ctx context.Context, tx pgx.Tx, table, col string, from, stepMS int64, n int) ([]int64, error) {
	// table and col are constants of this file, never input.
	rows, err := tx.Query(ctx, `SELECT COALESCE(
			(SELECT id FROM `+table+` WHERE `+col+` >= $1::bigint + g * $2::bigint ORDER BY `+col+`, id LIMIT 1),
			(SELECT COALESCE(MAX(id), 0) + 1 FROM `+table+`))
		FROM generate_series(0, $3::int) g ORDER BY g`, from, stepMS, n)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	if len(ids) != n+1 {
		return nil, fmt.Errorf("%d bucket ends, want %d", len(ids), n+1)
	}
	return ids, nil
}

// RecentOutcomes counts the delivery attempts made since a time, per
// destination (the empty name: actions without one).
func (s *Store) RecentOutcomes(ctx context.Context, since time.Time) (map[string]*store.DestinationOutcomes, error) {
	rows, err := s.pool.Query(ctx, `SELECT j.destination, a.outcome, COUNT(*), MAX(a.at) FROM attempts a JOIN jobs j ON j.id = a.job_id
		WHERE a.at >= $1 GROUP BY j.destination, a.outcome`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("count recent delivery outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]*store.DestinationOutcomes{}
	for rows.Next() {
		var (
			dest, outcome string
			c, last       int64
		)
		if err := rows.Scan(&dest, &outcome, &c, &last); err != nil {
			return nil, fmt.Errorf("count recent delivery outcomes: %w", err)
		}
		o := out[dest]
		if o == nil {
			o = &store.DestinationOutcomes{Destination: dest}
			out[dest] = o
		}
		switch outcome {
		case store.StateDone:
			o.Done += c
		case store.StateRetry:
			o.Retry += c
		case store.StateDead:
			o.Dead += c
		}
		if t := fromMS(last); t.After(o.LastAt) {
			o.LastAt = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count recent delivery outcomes: %w", err)
	}
	return out, nil
}

// CountDeliveries counts the jobs matching f (Limit and BeforeID ignored);
// with f.State empty it counts those waiting to be sent (pending or
// retry), to show the progress of a replay.
func (s *Store) CountDeliveries(ctx context.Context, f store.Filter) (int64, error) {
	waiting := f.State == ""
	f.Limit, f.BeforeID = 0, 0
	cond, args, err := where(f)
	if err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	if waiting {
		cond += " AND state IN ('pending', 'retry')"
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE `+cond, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// FirstJobAt returns the id of the first job created at or after t (one
// past the last job if none is), by a binary search over the primary key
// as in the SQLite store: job ids grow with their creation time.
func (s *Store) FirstJobAt(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(id), MAX(id) FROM jobs`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("find the deliveries of a time: %w", err)
	}
	if lo == nil {
		return 1, nil
	}
	return store.FirstIDAt(*lo, *hi, ms(t), func(mid int64) (id, created int64, err error) {
		err = s.pool.QueryRow(ctx, `SELECT id, created_at FROM jobs WHERE id >= $1 ORDER BY id LIMIT 1`, mid).Scan(&id, &created)
		return id, created, err
	})
}
