package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// ErrLeaseLost is wrapped by Commit when this instance does not hold the
// evaluation lease (any more): another instance may be evaluating, so the
// batch must not be written.
var ErrLeaseLost = errors.New("the evaluation lease is not held by this instance")

// Commit writes an evaluated batch in one transaction: it marks the
// batch's events (Batch.Events) evaluated, writes the matches, jobs and
// state changes, and moves the cursor (the highest id evaluated, for
// /status). The transaction first checks, holding the lease's row, that
// this instance still holds the evaluation lease under the epoch it took
// it with; and it fails, writing nothing, if any of the events was already
// evaluated. So a takeover never evaluates an event twice.
func (s *Store) Commit(ctx context.Context, b store.Batch) error {
	if err := s.commit(ctx, b); err != nil {
		return fmt.Errorf("commit evaluations up to %d: %w", b.Cursor, err)
	}
	return nil
}

func (s *Store) commit(ctx context.Context, b store.Batch) error {
	l := s.lease.Load()
	if l == nil {
		return ErrLeaseLost
	}
	in := make(map[int64]bool, len(b.Events))
	for _, id := range b.Events {
		if id <= 0 || in[id] {
			return fmt.Errorf("event %d is listed twice or is not a stored event", id)
		}
		in[id] = true
	}
	throttled := 0
	for _, m := range b.Matches {
		if m.Rule == "" {
			return fmt.Errorf("event %d: empty rule name in matches", m.EventID)
		}
		if !in[m.EventID] {
			return fmt.Errorf("event %d is not among the batch's events", m.EventID)
		}
		if m.Throttled {
			throttled++
		}
	}
	for i, j := range b.Jobs {
		switch {
		case j.Rule == "":
			return fmt.Errorf("event %d job %d: empty rule name", j.EventID, i)
		case j.Kind == "":
			return fmt.Errorf("event %d job %d: empty kind", j.EventID, i)
		case j.Action < 0:
			return fmt.Errorf("event %d job %d: negative action index %d", j.EventID, i, j.Action)
		}
	}
	now := ms(s.opt.Now())
	var freed int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var epoch int64
		err := tx.QueryRow(ctx, `SELECT epoch FROM leases WHERE name = $1 AND holder = $2 AND epoch = $3 FOR SHARE`,
			l.Name, s.opt.Instance, l.Epoch).Scan(&epoch)
		if errors.Is(err, pgx.ErrNoRows) {
			s.lease.CompareAndSwap(l, nil)
			return ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("check the evaluation lease: %w", err)
		}
		bt := &pgx.Batch{}
		if len(b.Events) > 0 {
			bt.Queue(`UPDATE events SET evaluated = true, evaluated_by = $2 WHERE id = ANY($1) AND NOT evaluated`,
				b.Events, s.opt.Instance).Exec(func(tag pgconn.CommandTag) error {
				if int(tag.RowsAffected()) != len(b.Events) {
					return fmt.Errorf("%d of the batch's %d events were already evaluated (or are gone)", len(b.Events)-int(tag.RowsAffected()), len(b.Events))
				}
				return nil
			})
			bt.Queue(`SELECT COALESCE(SUM(size), 0) FROM events WHERE id = ANY($1)`, b.Events).QueryRow(func(r pgx.Row) error {
				return r.Scan(&freed)
			})
			bt.Queue(`UPDATE cursors SET position = GREATEST(position, $1) WHERE name = 'dispatch'`, maxID(b.Events))
		}
		queueMatches(bt, b, now)
		queueJobs(bt, b.Version, b.Jobs, now)
		queueState(bt, b.State, now)
		return tx.SendBatch(ctx, bt).Close()
	})
	if err != nil {
		return err
	}
	s.throttled.Add(int64(throttled))
	s.reserved.Add(-freed)
	return nil
}

func maxID(ids []int64) int64 {
	var m int64
	for _, id := range ids {
		m = max(m, id)
	}
	return m
}

func queueMatches(bt *pgx.Batch, b store.Batch, now int64) {
	if len(b.Matches) == 0 {
		return
	}
	ids := make([]int64, len(b.Matches))
	rules := make([]string, len(b.Matches))
	thr := make([]bool, len(b.Matches))
	for i, m := range b.Matches {
		ids[i], rules[i], thr[i] = m.EventID, m.Rule, m.Throttled
	}
	bt.Queue(`INSERT INTO matches (event_id, rule, ruleset_version, matched_at, throttled)
		SELECT id, r, $3, $4, t FROM unnest($1::bigint[], $2::text[], $5::bool[]) AS u(id, r, t)`, ids, rules, b.Version, now, thr)
}

func queueJobs(bt *pgx.Batch, version string, jobs []store.NewJob, now int64) {
	if len(jobs) == 0 {
		return
	}
	n := len(jobs)
	var (
		evs     = make([]int64, n)
		rules   = make([]string, n)
		actions = make([]int32, n)
		kinds   = make([]string, n)
		dests   = make([]string, n)
		reqs    = make([][]byte, n)
		keys    = make([]string, n)
		states  = make([]string, n)
		nexts   = make([]int64, n)
		errs    = make([]string, n)
	)
	for i, j := range jobs {
		key := j.IdempotencyKey
		if key == "" {
			key = fmt.Sprintf("%d:%s:%d", j.EventID, j.Rule, j.Action)
		}
		next := now
		if !j.NextAttemptAt.IsZero() {
			next = ms(j.NextAttemptAt)
		}
		req := j.Request
		if req == nil {
			req = []byte{}
		}
		state := store.StatePending
		if j.Failed != "" {
			state = store.StateDead
		}
		evs[i], rules[i], actions[i], kinds[i], dests[i] = j.EventID, j.Rule, int32(j.Action), j.Kind, j.Destination
		reqs[i], keys[i], states[i], nexts[i], errs[i] = req, key, state, next, j.Failed
	}
	bt.Queue(`INSERT INTO jobs (event_id, rule, ruleset_version, action, kind, destination, request, idempotency_key,
			state, attempts, next_attempt_at, created_at, updated_at, queued_at, last_error)
		SELECT e, r, $11, a, k, d, q, ik, st, 0, nx, $12, $12, $12, le
		FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::text[], $9::bigint[], $10::text[])
			AS u(e, r, a, k, d, q, ik, st, nx, le)`,
		evs, rules, actions, kinds, dests, reqs, keys, states, nexts, errs, version, now)
}

// queueState queues the conversation engine's changes.
func queueState(bt *pgx.Batch, c store.StateChanges, now int64) {
	if len(c.Team) > 0 {
		bt.Queue(`INSERT INTO team (phone, first_seen) SELECT p, $2 FROM unnest($1::text[]) AS u(p) ON CONFLICT (phone) DO NOTHING`, c.Team, now)
	}
	if len(c.Chats) > 0 {
		ids := make([]string, len(c.Chats))
		states := make([][]byte, len(c.Chats))
		var pc []string
		var pat []int64
		for i, ch := range c.Chats {
			ids[i], states[i] = ch.ID, ch.State
			for _, t := range ch.Removed {
				bt.Queue(`DELETE FROM chat_pending WHERE ctid = (SELECT ctid FROM chat_pending WHERE chat_id = $1 AND at = $2 LIMIT 1)`, ch.ID, ms(t))
			}
			for _, t := range ch.Added {
				pc, pat = append(pc, ch.ID), append(pat, ms(t))
			}
		}
		bt.Queue(`INSERT INTO chats (chat_id, state, updated_at) SELECT id, st, $3 FROM unnest($1::text[], $2::bytea[]) AS u(id, st)
			ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, ids, states, now)
		if len(pc) > 0 {
			bt.Queue(`INSERT INTO chat_pending (chat_id, at) SELECT * FROM unnest($1::text[], $2::bigint[])`, pc, pat)
		}
	}
	for _, t := range c.Throttles {
		bt.Queue(`INSERT INTO throttles (rule, key, acts) VALUES ($1, $2, $3) ON CONFLICT (rule, key) DO UPDATE SET acts = excluded.acts`,
			t.Rule, t.Key, string(msList(t.Acts)))
	}
	for _, j := range c.Joined {
		if j.Opened {
			bt.Queue(`INSERT INTO open_groups (rule, key, start, event_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
				j.Rule, j.Key, ms(j.Start), j.EventID)
		}
		bt.Queue(`INSERT INTO open_group_items (rule, key, start, event_id) VALUES ($1, $2, $3, $4)`, j.Rule, j.Key, ms(j.Start), j.EventID)
	}
	for _, g := range c.Closed {
		bt.Queue(`DELETE FROM open_groups WHERE rule = $1 AND key = $2 AND start = $3`, g.Rule, g.Key, ms(g.Start))
		bt.Queue(`DELETE FROM open_group_items WHERE rule = $1 AND key = $2 AND start = $3`, g.Rule, g.Key, ms(g.Start))
	}
	if len(c.Timers) > 0 {
		rules := make([]string, len(c.Timers))
		evs := make([]int64, len(c.Timers))
		dues := make([]int64, len(c.Timers))
		for i, t := range c.Timers {
			rules[i], evs[i], dues[i] = t.Rule, t.EventID, ms(t.Due)
		}
		bt.Queue(`INSERT INTO timers (rule, event_id, due_at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
			ON CONFLICT (rule, event_id) DO NOTHING`, rules, evs, dues)
	}
	if len(c.Checked) > 0 {
		bt.Queue(`DELETE FROM timers WHERE id = ANY($1)`, c.Checked)
	}
	for _, r := range c.Schedules {
		bt.Queue(`INSERT INTO schedules (rule, last_at) VALUES ($1, $2) ON CONFLICT (rule) DO UPDATE SET last_at = excluded.last_at`, r.Rule, ms(r.At))
		if r.Ran {
			bt.Queue(`INSERT INTO runs (rule, scheduled_at, ran_at, acted) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`, r.Rule, ms(r.At), now)
		}
	}
}

// msList encodes times as a JSON list of unix milliseconds.
func msList(ts []time.Time) []byte {
	v := make([]int64, len(ts))
	for i, t := range ts {
		v[i] = ms(t)
	}
	data, _ := json.Marshal(v)
	return data
}

func fromMSList(data []byte) ([]time.Time, error) {
	var v []int64
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	out := make([]time.Time, len(v))
	for i, x := range v {
		out[i] = time.UnixMilli(x).UTC()
	}
	return out, nil
}
