package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// Chats returns the stored states of the given chats; chats without one
// are absent.
func (s *Store) Chats(ctx context.Context, ids []string) (map[string]store.Chat, error) {
	out := make(map[string]store.Chat, len(ids))
	err := s.readChats(ctx, out, `SELECT chat_id, state FROM chats WHERE chat_id = ANY($1)`, []any{ids},
		`SELECT chat_id, at FROM chat_pending WHERE chat_id = ANY($1) ORDER BY chat_id, at`, []any{ids})
	return out, err
}

// AllChats returns every stored chat state, up to max chats (the most
// recently updated).
func (s *Store) AllChats(ctx context.Context, max int) (map[string]store.Chat, error) {
	out := map[string]store.Chat{}
	err := s.readChats(ctx, out, `SELECT chat_id, state FROM chats ORDER BY updated_at DESC LIMIT $1`, []any{max},
		`SELECT chat_id, at FROM chat_pending ORDER BY chat_id, at`, nil)
	return out, err
}

// readChats runs both queries in one snapshot.
func (s *Store) readChats(ctx context.Context, out map[string]store.Chat, states string, stateArgs []any, pending string, pendingArgs []any) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := scanRows(ctx, tx, states, stateArgs, func(r pgx.Rows) error {
			var (
				id string
				c  store.Chat
			)
			if err := r.Scan(&id, &c.State); err != nil {
				return err
			}
			out[id] = c
			return nil
		})
		if err != nil {
			return fmt.Errorf("read chat states: %w", err)
		}
		err = scanRows(ctx, tx, pending, pendingArgs, func(r pgx.Rows) error {
			var (
				id string
				at int64
			)
			if err := r.Scan(&id, &at); err != nil {
				return err
			}
			if c, ok := out[id]; ok {
				c.Pending = append(c.Pending, fromMS(at))
				out[id] = c
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read pending messages: %w", err)
		}
		return nil
	})
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func scanRows(ctx context.Context, q querier, query string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// LoadState reads the state the dispatcher keeps in memory, from one
// snapshot.
func (s *Store) LoadState(ctx context.Context) (*store.Loaded, error) {
	st := &store.Loaded{Schedules: map[string]time.Time{}}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		steps := []struct {
			what, query string
			fn          func(pgx.Rows) error
		}{
			{"team directory", `SELECT phone FROM team ORDER BY phone`, func(r pgx.Rows) error {
				var p string
				err := r.Scan(&p)
				st.Team = append(st.Team, p)
				return err
			}},
			{"throttle windows", `SELECT rule, key, acts FROM throttles ORDER BY rule, key`, func(r pgx.Rows) error {
				var (
					t    store.ThrottleRow
					acts string
				)
				if err := r.Scan(&t.Rule, &t.Key, &acts); err != nil {
					return err
				}
				var err error
				t.Acts, err = fromMSList([]byte(acts))
				st.Throttles = append(st.Throttles, t)
				return err
			}},
			{"open groups", `SELECT rule, key, start, event_id FROM open_groups ORDER BY start, rule, key`, func(r pgx.Rows) error {
				var (
					g     store.OpenGroup
					start int64
				)
				err := r.Scan(&g.Rule, &g.Key, &start, &g.EventID)
				g.Start = fromMS(start)
				st.Groups = append(st.Groups, g)
				return err
			}},
			{"schedules", `SELECT rule, last_at FROM schedules`, func(r pgx.Rows) error {
				var (
					rule string
					at   int64
				)
				err := r.Scan(&rule, &at)
				st.Schedules[rule] = fromMS(at)
				return err
			}},
		}
		for _, q := range steps {
			if err := scanRows(ctx, tx, q.query, nil, q.fn); err != nil {
				return fmt.Errorf("load %s: %w", q.what, err)
			}
		}
		for i := range st.Groups {
			g := &st.Groups[i]
			err := scanRows(ctx, tx, `SELECT `+eventColumnsOf("e")+` FROM open_group_items i JOIN events e ON e.id = i.event_id
				WHERE i.rule = $1 AND i.key = $2 AND i.start = $3 ORDER BY i.seq`, []any{g.Rule, g.Key, ms(g.Start)}, func(r pgx.Rows) error {
				e, err := scanEvent(r)
				g.Events = append(g.Events, e)
				return err
			})
			if err != nil {
				return fmt.Errorf("load group of %q: %w", g.Rule, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	return st, nil
}

// DueTimers returns up to max delayed checks due at or before now,
// earliest first, with their events (empty if the event is gone).
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int) ([]store.Timer, error) {
	var out []store.Timer
	err := scanRows(ctx, s.pool, `SELECT t.id, t.rule, t.due_at, COALESCE(e.id, 0), COALESCE(e.received_at, 0),
			COALESCE(e.body, ''::bytea), e.dedupe_key, e.duplicate_of
		FROM timers t LEFT JOIN events e ON e.id = t.event_id WHERE t.due_at <= $1 ORDER BY t.due_at, t.id LIMIT $2`,
		[]any{ms(now), max}, func(r pgx.Rows) error {
			var (
				t   store.Timer
				due int64
			)
			e, err := scanEvent(r, &t.ID, &t.Rule, &due)
			if err != nil {
				return err
			}
			t.Event, t.DueAt = e, fromMS(due)
			out = append(out, t)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read due checks: %w", err)
	}
	return out, nil
}

// NextTimer returns when the earliest delayed check is due, or the zero
// time if there is none.
func (s *Store) NextTimer(ctx context.Context) (time.Time, error) {
	var due *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(due_at) FROM timers`).Scan(&due); err != nil {
		return time.Time{}, fmt.Errorf("read next delayed check: %w", err)
	}
	if due == nil {
		return time.Time{}, nil
	}
	return fromMS(*due), nil
}
