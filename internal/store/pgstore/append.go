package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// appendReq is one Append waiting for the writer.
type appendReq struct {
	ctx  context.Context
	body []byte
	key  string
	at   time.Time
	out  store.Appended
	done chan error
}

// Append stores one event durably: it returns once the transaction holding
// it (with the other Appends waiting at the time) committed. A duplicate of
// a message stored by any instance is stored as a copy (see
// store.NewEvent.DedupeKey).
func (s *Store) Append(ctx context.Context, in store.NewEvent) (store.Appended, error) {
	size := int64(len(in.Body))
	if s.opt.MaxBytes > 0 && s.backlog.Load()+s.reserved.Load()+size > s.opt.MaxBytes {
		return store.Appended{}, fmt.Errorf("append event of %d bytes: %w", size, store.ErrFull)
	}
	body := bytes.Clone(in.Body)
	if body == nil {
		body = []byte{}
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.opt.Now()
	}
	r := &appendReq{ctx: ctx, body: body, key: in.DedupeKey, at: at, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.Appended{}, fmt.Errorf("append event: %w", store.ErrClosed)
	}
	select {
	case s.appends <- r:
	case <-ctx.Done():
		s.mu.RUnlock()
		return store.Appended{}, ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case err := <-r.done:
		if err != nil {
			return store.Appended{}, fmt.Errorf("append event: %w", err)
		}
		s.reserved.Add(size)
		return r.out, nil
	case <-ctx.Done():
		return store.Appended{}, ctx.Err()
	}
}

// writer commits the queued Appends, as many as are waiting (up to
// MaxBatch) per transaction, until Close.
func (s *Store) writer() {
	defer close(s.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	batch := make([]*appendReq, 0, s.opt.MaxBatch)
	for {
		var r *appendReq
		var ok bool
		select {
		case r, ok = <-s.appends:
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := s.measureBacklog(ctx); err != nil {
				s.opt.Logger.Warn("pgstore: measuring the backlog failed", "err", err)
			}
			cancel()
			continue
		}
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < s.opt.MaxBatch {
			select {
			case r, ok := <-s.appends:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		live := batch[:0]
		for _, r := range batch {
			if r.ctx.Err() != nil {
				r.done <- r.ctx.Err()
				continue
			}
			live = append(live, r)
		}
		if len(live) == 0 {
			continue
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.appendMany(ctx, live)
		cancel()
		if err == nil {
			s.commits.Add(1)
			if s.opt.OnCommit != nil {
				s.opt.OnCommit(store.CommitInfo{Requests: len(live), Durable: len(live), Took: time.Since(start)})
			}
		}
		for _, r := range live {
			r.done <- err
		}
	}
}

// appendMany stores the events of rs in one transaction, its statements
// sent together as one pgx.Batch: the events (ids drawn first, so that
// each request knows its own), their dedupe keys (ON CONFLICT DO NOTHING,
// in key order so that two instances never deadlock), and the marks on the
// copies of messages already stored.
func (s *Store) appendMany(ctx context.Context, rs []*appendReq) error {
	n := len(rs)
	ids := make([]int64, 0, n)
	rows, err := s.pool.Query(ctx, `SELECT nextval('events_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return fmt.Errorf("draw event ids: %w", err)
	}
	ids, err = pgx.AppendRows(ids, rows, pgx.RowTo[int64])
	if err != nil || len(ids) != n {
		return fmt.Errorf("draw event ids: %v", err)
	}
	slices.Sort(ids)
	at := make([]int64, n)
	bodies := make([][]byte, n)
	sizes := make([]int32, n)
	keys := make([][]byte, n) // nil: NULL
	type keyed struct {
		key string
		id  int64
	}
	var withKey []keyed
	for i, r := range rs {
		r.out = store.Appended{ID: ids[i], Row: ids[i]}
		at[i], bodies[i], sizes[i] = ms(r.at), r.body, int32(len(r.body))
		if r.key != "" {
			keys[i] = []byte(r.key)
			withKey = append(withKey, keyed{r.key, ids[i]})
		}
	}
	now := ms(s.opt.Now())
	// One batch is one implicit transaction (pgx.Conn.SendBatch): its
	// statements commit together at its end, in one round trip, without
	// BEGIN and COMMIT of their own.
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO events (id, received_at, body, size, dedupe_key)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::int[], $5::bytea[])`, ids, at, bodies, sizes, keys)
	var dups map[int64]int64
	if len(withKey) > 0 {
		slices.SortFunc(withKey, func(a, b keyed) int {
			if a.key != b.key {
				if a.key < b.key {
					return -1
				}
				return 1
			}
			return int(a.id - b.id)
		})
		ks := make([][]byte, len(withKey))
		kids := make([]int64, len(withKey))
		for i, k := range withKey {
			ks[i], kids[i] = []byte(k.key), k.id
		}
		b.Queue(`INSERT INTO dedupe (key, event_id, seen_at)
			SELECT k, id, $3 FROM unnest($1::bytea[], $2::bigint[]) AS u(k, id) ORDER BY k, id
			ON CONFLICT (key) DO NOTHING`, ks, kids, now)
		// Every event whose key now names another event is a copy.
		b.Queue(`UPDATE events e SET duplicate_of = d.event_id FROM dedupe d
			WHERE e.id = ANY($1) AND d.key = e.dedupe_key AND d.event_id <> e.id
			RETURNING e.id, d.event_id`, ids).Query(func(rows pgx.Rows) error {
			dups = map[int64]int64{}
			for rows.Next() {
				var id, orig int64
				if err := rows.Scan(&id, &orig); err != nil {
					return err
				}
				dups[id] = orig
			}
			return rows.Err()
		})
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert %d events: %w", n, err)
	}
	for _, r := range rs {
		if orig, ok := dups[r.out.Row]; ok {
			r.out.ID, r.out.Duplicate = orig, true
		}
	}
	return nil
}

// Prune deletes dedupe keys first seen before the given time (never one
// younger than store.DedupeWindow) and returns how many.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	if limit := s.opt.Now().Add(-store.DedupeWindow); before.After(limit) {
		before = limit
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM dedupe WHERE seen_at < $1`, ms(before))
	if err != nil {
		return 0, fmt.Errorf("prune dedupe keys: %w", err)
	}
	return tag.RowsAffected(), nil
}
