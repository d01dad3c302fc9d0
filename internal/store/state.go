package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// writeState persists the conversation engine's changes.
func writeState(w *wtx, c StateChanges, now int64) error {
	err := w.insertRows(`INSERT INTO team (phone, first_seen) VALUES`, `ON CONFLICT (phone) DO NOTHING`, 2, len(c.Team),
		func(i int, a []any) []any { return append(a, c.Team[i], now) })
	if err != nil {
		return fmt.Errorf("add team members: %w", err)
	}
	err = w.insertRows(`INSERT INTO chats (chat_id, state, updated_at) VALUES`,
		`ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, 3, len(c.Chats),
		func(i int, a []any) []any { return append(a, c.Chats[i].ID, c.Chats[i].State, now) })
	if err != nil {
		return fmt.Errorf("store chat states: %w", err)
	}
	type pending struct {
		chat string
		at   int64
	}
	var added []pending
	for _, ch := range c.Chats {
		for _, t := range ch.Removed {
			_, err := w.exec(`DELETE FROM chat_pending WHERE rowid = (SELECT rowid FROM chat_pending WHERE chat_id = ? AND at = ? LIMIT 1)`, ch.ID, ms(t))
			if err != nil {
				return fmt.Errorf("answer pending messages of chat %q: %w", ch.ID, err)
			}
		}
		for _, t := range ch.Added {
			added = append(added, pending{ch.ID, ms(t)})
		}
	}
	err = w.insertRows(`INSERT INTO chat_pending (chat_id, at) VALUES`, ``, 2, len(added),
		func(i int, a []any) []any { return append(a, added[i].chat, added[i].at) })
	if err != nil {
		return fmt.Errorf("store pending messages: %w", err)
	}
	err = w.insertRows(`INSERT INTO throttles (rule, key, acts) VALUES`, `ON CONFLICT (rule, key) DO UPDATE SET acts = excluded.acts`, 3, len(c.Throttles),
		func(i int, a []any) []any {
			t := c.Throttles[i]
			return append(a, t.Rule, t.Key, msList(t.Acts))
		})
	if err != nil {
		return fmt.Errorf("store throttle windows: %w", err)
	}
	if err := writeGroups(w, c); err != nil {
		return err
	}
	err = w.insertRows(`INSERT INTO timers (rule, event_id, due_at) VALUES`, `ON CONFLICT (rule, event_id) DO NOTHING`, 3, len(c.Timers),
		func(i int, a []any) []any {
			return append(a, c.Timers[i].Rule, c.Timers[i].EventID, ms(c.Timers[i].Due))
		})
	if err != nil {
		return fmt.Errorf("store delayed checks: %w", err)
	}
	for _, id := range c.Checked {
		if _, err := w.exec(`DELETE FROM timers WHERE id = ?`, id); err != nil {
			return fmt.Errorf("remove delayed check %d: %w", id, err)
		}
	}
	for _, r := range c.Schedules {
		if _, err := w.exec(`INSERT INTO schedules (rule, last_at) VALUES (?, ?)
			ON CONFLICT (rule) DO UPDATE SET last_at = excluded.last_at`, r.Rule, ms(r.At)); err != nil {
			return fmt.Errorf("move schedule of %q: %w", r.Rule, err)
		}
		if r.Ran {
			if _, err := w.exec(`INSERT INTO runs (rule, scheduled_at, ran_at, acted) VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING`,
				r.Rule, ms(r.At), now); err != nil {
				return fmt.Errorf("record run of %q: %w", r.Rule, err)
			}
		}
	}
	return nil
}

func writeGroups(w *wtx, c StateChanges) error {
	for _, j := range c.Joined {
		if j.Opened {
			if _, err := w.exec(`INSERT INTO open_groups (rule, key, start, event_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				j.Rule, j.Key, ms(j.Start), j.EventID); err != nil {
				return fmt.Errorf("open group of %q: %w", j.Rule, err)
			}
		}
	}
	err := w.insertRows(`INSERT INTO open_group_items (rule, key, start, event_id) VALUES`, ``, 4, len(c.Joined),
		func(i int, a []any) []any {
			j := c.Joined[i]
			return append(a, j.Rule, j.Key, ms(j.Start), j.EventID)
		})
	if err != nil {
		return fmt.Errorf("join groups: %w", err)
	}
	for _, g := range c.Closed {
		for _, q := range []string{`DELETE FROM open_groups WHERE rule = ? AND key = ? AND start = ?`,
			`DELETE FROM open_group_items WHERE rule = ? AND key = ? AND start = ?`} {
			if _, err := w.exec(q, g.Rule, g.Key, ms(g.Start)); err != nil {
				return fmt.Errorf("close group of %q: %w", g.Rule, err)
			}
		}
	}
	return nil
}

// Chat is a chat's stored state: the engine's record and its pending
// times, ascending.
type Chat struct {
	State   []byte
	Pending []time.Time
}

// Chats returns the stored states of the given chats; chats without one
// are absent.
func (s *Store) Chats(ctx context.Context, ids []string) (map[string]Chat, error) {
	out := make(map[string]Chat, len(ids))
	const chunk = 500
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		in := `(?` + strings.Repeat(", ?", n-1) + `)`
		if err := s.readChats(ctx, out, `SELECT chat_id, state FROM chats WHERE chat_id IN `+in, args,
			`SELECT chat_id, at FROM chat_pending WHERE chat_id IN `+in+` ORDER BY chat_id, at`, args); err != nil {
			return nil, err
		}
		ids = ids[n:]
	}
	return out, nil
}

// AllChats returns every stored chat state, up to max chats (the most
// recently updated).
func (s *Store) AllChats(ctx context.Context, max int) (map[string]Chat, error) {
	out := map[string]Chat{}
	err := s.readChats(ctx, out, `SELECT chat_id, state FROM chats ORDER BY updated_at DESC LIMIT ?`, []any{max},
		`SELECT chat_id, at FROM chat_pending ORDER BY chat_id, at`, nil)
	return out, err
}

// readChats runs states (chat_id, state) with stateArgs and pending
// (chat_id, at, in order) with pendingArgs in one snapshot into out.
func (s *Store) readChats(ctx context.Context, out map[string]Chat, states string, stateArgs []any, pending string, pendingArgs []any) error {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true}) // one snapshot for both queries
	if err != nil {
		return fmt.Errorf("read chat states: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	err = scanRows(ctx, tx, states, stateArgs, func(r *sql.Rows) error {
		var (
			id string
			c  Chat
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
	err = scanRows(ctx, tx, pending, pendingArgs, func(r *sql.Rows) error {
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
}

// scanRows runs a query and calls fn for each row.
func scanRows(ctx context.Context, tx *sql.Tx, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query, args...)
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

// OpenGroup is a stored open group with its events, in the order they
// joined.
type OpenGroup struct {
	GroupRef
	EventID int64
	Events  []Event
}

// Loaded is the conversation state kept whole in memory by the
// dispatcher: everything but the chats (see Chats) and delayed checks (see
// DueTimers).
type Loaded struct {
	Team      []string
	Throttles []ThrottleRow
	Groups    []OpenGroup
	Schedules map[string]time.Time
}

// LoadState reads the state the dispatcher keeps in memory, from one
// snapshot.
func (s *Store) LoadState(ctx context.Context) (*Loaded, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	st := &Loaded{Schedules: map[string]time.Time{}}
	steps := []struct {
		what, query string
		fn          func(*sql.Rows) error
	}{
		{"team directory", `SELECT phone FROM team ORDER BY phone`, func(r *sql.Rows) error {
			var p string
			err := r.Scan(&p)
			st.Team = append(st.Team, p)
			return err
		}},
		{"throttle windows", `SELECT rule, key, acts FROM throttles ORDER BY rule, key`, func(r *sql.Rows) error {
			var (
				t    ThrottleRow
				acts []byte
			)
			if err := r.Scan(&t.Rule, &t.Key, &acts); err != nil {
				return err
			}
			var err error
			t.Acts, err = fromMSList(acts)
			st.Throttles = append(st.Throttles, t)
			return err
		}},
		{"open groups", `SELECT rule, key, start, event_id FROM open_groups ORDER BY start, rule, key`, func(r *sql.Rows) error {
			var (
				g     OpenGroup
				start int64
			)
			err := r.Scan(&g.Rule, &g.Key, &start, &g.EventID)
			g.Start = fromMS(start)
			st.Groups = append(st.Groups, g)
			return err
		}},
		{"schedules", `SELECT rule, last_at FROM schedules`, func(r *sql.Rows) error {
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
			return nil, fmt.Errorf("load %s: %w", q.what, err)
		}
	}
	for i := range st.Groups {
		g := &st.Groups[i]
		err := scanRows(ctx, tx, `SELECT `+eventColumnsOf("e")+` FROM open_group_items i JOIN events e ON e.id = i.event_id
			WHERE i.rule = ? AND i.key = ? AND i.start = ? ORDER BY i.rowid`, []any{g.Rule, g.Key, ms(g.Start)}, func(r *sql.Rows) error {
			e, err := scanEvent(r)
			g.Events = append(g.Events, e)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("load group of %q: %w", g.Rule, err)
		}
	}
	return st, nil
}

// Timer is a due delayed check with its event.
type Timer struct {
	ID    int64
	Rule  string
	Event Event
	DueAt time.Time
}

// DueTimers returns up to max delayed checks due at or before now,
// earliest first, with their events (empty if the event is no longer
// stored).
func (s *Store) DueTimers(ctx context.Context, now time.Time, max int) ([]Timer, error) {
	// A check whose event is gone comes with an empty event (which does
	// not decode), so that it is dropped rather than left due for ever.
	rows, err := s.rdb.QueryContext(ctx, `SELECT t.id, t.rule, t.due_at, COALESCE(e.id, 0), COALESCE(e.received_at, 0),
			COALESCE(e.body, x''), e.dedupe_key, e.duplicate_of
		FROM timers t LEFT JOIN events e ON e.id = t.event_id WHERE t.due_at <= ? ORDER BY t.due_at, t.id LIMIT ?`, ms(now), max)
	if err != nil {
		return nil, fmt.Errorf("read due checks: %w", err)
	}
	defer rows.Close()
	var out []Timer
	for rows.Next() {
		var (
			t   Timer
			due int64
		)
		e, err := scanEvent(rows, &t.ID, &t.Rule, &due)
		if err != nil {
			return nil, fmt.Errorf("read due checks: %w", err)
		}
		t.Event, t.DueAt = e, fromMS(due)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read due checks: %w", err)
	}
	return out, nil
}

// NextTimer returns when the earliest delayed check is due, or the zero
// time if there is none.
func (s *Store) NextTimer(ctx context.Context) (time.Time, error) {
	var due sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, `SELECT MIN(due_at) FROM timers`).Scan(&due); err != nil {
		return time.Time{}, fmt.Errorf("read next delayed check: %w", err)
	}
	if !due.Valid {
		return time.Time{}, nil
	}
	return fromMS(due.Int64), nil
}

// EventsReceived returns up to max events received in (since, until], in
// id order, for digests.
func (s *Store) EventsReceived(ctx context.Context, since, until time.Time, max int) ([]Event, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+eventColumns+` FROM events
		WHERE received_at > ? AND received_at <= ? ORDER BY id LIMIT ?`, ms(since), ms(until), max)
	if err != nil {
		return nil, fmt.Errorf("read events received since %s: %w", since.Format(time.RFC3339), err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}
