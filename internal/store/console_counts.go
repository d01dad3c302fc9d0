package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The console's counts (issue 10): the overview's charts, the
// destinations' recent outcomes, a replay's progress and the deliveries'
// time filter.

// Series are counts per time bucket for the console's charts: bucket i
// covers [Start + i*Step, Start + (i+1)*Step).
type Series struct {
	Start time.Time
	Step  time.Duration
	N     int
	// Events are the events received per bucket.
	Events []int64
	// Outcomes are the delivery attempts per bucket by outcome (done,
	// retry, dead).
	Outcomes map[string][]int64
	// Matches are the matches per rule over the whole period.
	Matches map[string]int64
}

// ReadSeries counts events and delivery attempts in n buckets of step from
// start, and the matches of rules of the events received from matchesFrom
// to the end of the period (counting matches reads every one: the caller
// bounds that part).
//
// Counting every row of a week would read a million index entries, so
// the events and the attempts of a bucket are the difference of the first
// ids at or after its two ends (one index seek each): ids grow with the
// time of receipt (of the attempt), so this is the count, except that an
// event stored out of time order (a replayed quarantined body keeps its
// time) is counted with its neighbours. Retries and dead letters are
// counted over the index by outcome; done is the rest.
func (s *Store) ReadSeries(ctx context.Context, start time.Time, step time.Duration, n int, rules []string, matchesFrom time.Time) (Series, error) {
	out := Series{Start: start, Step: step, N: n, Events: make([]int64, n), Outcomes: map[string][]int64{}, Matches: map[string]int64{}}
	from, stepMS := ms(start), step.Milliseconds()
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return out, fmt.Errorf("read the charts: %w", err)
	}
	defer tx.Rollback()
	evIDs, err := firstIDs(ctx, tx, `SELECT COALESCE((SELECT id FROM events WHERE received_at >= ? ORDER BY received_at, id LIMIT 1), (SELECT COALESCE(MAX(id), 0) + 1 FROM events))`, from, stepMS, n)
	if err != nil {
		return out, fmt.Errorf("count events: %w", err)
	}
	atIDs, err := firstIDs(ctx, tx, `SELECT COALESCE((SELECT id FROM attempts WHERE at >= ? ORDER BY at, id LIMIT 1), (SELECT COALESCE(MAX(id), 0) + 1 FROM attempts))`, from, stepMS, n)
	if err != nil {
		return out, fmt.Errorf("count delivery attempts: %w", err)
	}
	done := make([]int64, n)
	for i := range n {
		out.Events[i] = max(0, evIDs[i+1]-evIDs[i])
		done[i] = max(0, atIDs[i+1]-atIDs[i])
	}
	out.Outcomes[StateDone] = done
	count, err := tx.PrepareContext(ctx, `SELECT COUNT(*) FROM attempts WHERE outcome = ? AND at >= ? AND at < ?`)
	if err != nil {
		return out, fmt.Errorf("count delivery attempts: %w", err)
	}
	defer count.Close()
	for _, outcome := range []string{StateRetry, StateDead} {
		v := make([]int64, n)
		for i := range n {
			if err := count.QueryRowContext(ctx, outcome, from+int64(i)*stepMS, from+int64(i+1)*stepMS).Scan(&v[i]); err != nil {
				return out, fmt.Errorf("count delivery attempts: %w", err)
			}
			done[i] = max(0, done[i]-v[i])
		}
		out.Outcomes[outcome] = v
	}
	lo, hi := evIDs[0], evIDs[n]
	if matchesFrom.After(start) {
		ids, err := firstIDs(ctx, tx, `SELECT COALESCE((SELECT id FROM events WHERE received_at >= ? ORDER BY received_at, id LIMIT 1), (SELECT COALESCE(MAX(id), 0) + 1 FROM events))`, ms(matchesFrom), 0, 0)
		if err != nil {
			return out, fmt.Errorf("count matches: %w", err)
		}
		lo = ids[0]
	}
	for _, rule := range rules {
		var c int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM matches WHERE rule = ? AND event_id >= ? AND event_id < ?`, rule, lo, hi).Scan(&c); err != nil {
			return out, fmt.Errorf("count the matches of %s: %w", rule, err)
		}
		if c > 0 {
			out.Matches[rule] = c
		}
	}
	return out, nil
}

// firstIDs runs q (the first id at or after a time, or one past the last)
// for the n+1 bucket ends.
func firstIDs(ctx context.Context, tx *sql.Tx, q string, from, stepMS int64, n int) ([]int64, error) {
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ids := make([]int64, n+1)
	for i := range ids {
		if err := st.QueryRowContext(ctx, from+int64(i)*stepMS).Scan(&ids[i]); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// DestinationOutcomes counts the attempts to one destination since a time.
type DestinationOutcomes struct {
	Destination string
	Done        int64
	Retry       int64
	Dead        int64
	LastAt      time.Time
	LastError   string
}

// RecentOutcomes counts the delivery attempts made since a time, per
// destination (the empty name: actions without one).
func (s *Store) RecentOutcomes(ctx context.Context, since time.Time) (map[string]*DestinationOutcomes, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT j.destination, a.outcome, COUNT(*), MAX(a.at) FROM attempts a JOIN jobs j ON j.id = a.job_id
		WHERE a.at >= ? GROUP BY j.destination, a.outcome`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("count recent delivery outcomes: %w", err)
	}
	defer rows.Close()
	out := map[string]*DestinationOutcomes{}
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
			o = &DestinationOutcomes{Destination: dest}
			out[dest] = o
		}
		switch outcome {
		case StateDone:
			o.Done += c
		case StateRetry:
			o.Retry += c
		case StateDead:
			o.Dead += c
		}
		if t := fromMS(last); t.After(o.LastAt) {
			o.LastAt = t
		}
	}
	return out, rows.Err()
}

// CountDeliveries counts the jobs matching f (Limit and BeforeID ignored);
// with f.State empty it counts those waiting to be sent (pending or
// retry), to show the progress of a replay.
func (s *Store) CountDeliveries(ctx context.Context, f Filter) (int64, error) {
	waiting := f.State == ""
	f.Limit, f.BeforeID = 0, 0
	where, args, err := f.where()
	if err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	if waiting {
		where += " AND state IN ('pending', 'retry')"
	}
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// FirstJobAt returns the id of the first job created at or after t (one
// past the last job if none is): job ids grow with their creation time,
// so a binary search over the primary key finds it without an index on
// the time. The console turns its deliveries' time filter into id bounds
// with it.
func (s *Store) FirstJobAt(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MIN(id), MAX(id) FROM jobs`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("find the deliveries of a time: %w", err)
	}
	if !lo.Valid {
		return 1, nil
	}
	return FirstIDAt(lo.Int64, hi.Int64, ms(t), func(mid int64) (id, created int64, err error) {
		err = s.rdb.QueryRowContext(ctx, `SELECT id, created_at FROM jobs WHERE id >= ? ORDER BY id LIMIT 1`, mid).Scan(&id, &created)
		return id, created, err
	})
}

// FirstIDAt is the search of FirstJobAt, for every store: the first id in
// [lo, hi] whose row was created at or after at (in ms), or hi+1, given
// next(mid), the first row with an id of at least mid and its creation
// time. Ids grow with creation time, so it is a binary search.
func FirstIDAt(lo, hi, at int64, next func(mid int64) (id, created int64, err error)) (int64, error) {
	// Invariant: every row below l is older than at; the answer is in
	// [l, h].
	l, h := lo, hi+1
	for l < h {
		mid := l + (h-l)/2
		id, created, err := next(mid)
		if err != nil {
			return 0, fmt.Errorf("find the deliveries of a time: %w", err)
		}
		if created >= at {
			h = min(mid, id)
		} else {
			l = id + 1
		}
	}
	return l, nil
}
