package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// The web console's reads (console.Store), with the meaning of the SQLite
// store's (internal/store/console.go and console_counts.go), over the
// columns and indexes of migration 002_console.sql.

// params numbers the placeholders of a query as its arguments are added.
type params struct{ args []any }

// p adds v and returns its placeholder.
func (p *params) p(v any) string {
	p.args = append(p.args, v)
	return "$" + strconv.Itoa(len(p.args))
}

// ListEvents returns the events matching f, newest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) (store.EventPage, error) {
	var page store.EventPage
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var q params
	conds := []string{"true"}
	add := func(cond string) { conds = append(conds, cond) }
	for _, c := range []struct{ col, val string }{{"e.chat_id", f.ChatID}, {"e.direction", f.Direction}, {"e.msg_type", f.Type}} {
		if c.val != "" {
			add(c.col + " = " + q.p(c.val))
		}
	}
	// Time bounds become id bounds (ids grow with the time received), which
	// every index below ends with; the time itself is checked as well.
	lo, hi, err := s.idRange(ctx, f.Since, f.Until)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	idCol := "e.id"
	if f.Rule != "" {
		idCol = "m.event_id"
	}
	if !f.Since.IsZero() {
		add(idCol + " >= " + q.p(lo) + " AND e.received_at >= " + q.p(ms(f.Since)))
	}
	if !f.Until.IsZero() {
		add(idCol + " <= " + q.p(hi) + " AND e.received_at < " + q.p(ms(f.Until)))
	}
	if f.BeforeID > 0 {
		add("e.id < " + q.p(f.BeforeID))
		if f.Rule != "" {
			add("m.event_id < " + q.p(f.BeforeID))
		}
	}
	if f.Text != "" {
		top := hi
		if f.Until.IsZero() {
			if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&top); err != nil {
				return page, fmt.Errorf("list events: %w", err)
			}
		}
		if f.BeforeID > 0 && f.BeforeID-1 < top {
			top = f.BeforeID - 1
		}
		floor := top - store.TextWindow
		if floor > lo && f.ChatID == "" {
			add(idCol + " > " + q.p(floor))
			page.TextLimited = floor > 0
		}
		pat := q.p("%" + escapeLike(f.Text) + "%")
		add(`(e.msg_text ILIKE ` + pat + ` ESCAPE '\' OR e.chat_title ILIKE ` + pat + ` ESCAPE '\')`)
	}
	from, order := "events e", "e.id"
	if f.Rule != "" {
		from = "matches m JOIN events e ON e.id = m.event_id"
		add("m.rule = " + q.p(f.Rule))
		order = "m.event_id" // the order of matches_rule (rule, event_id)
	}
	sql := `SELECT e.id, e.received_at, COALESCE(e.chat_id, ''), COALESCE(e.chat_title, ''), COALESCE(e.direction, ''),
		COALESCE(e.msg_type, ''), COALESCE(e.msg_text, ''), COALESCE(e.duplicate_of, 0)
		FROM ` + from + ` WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY ` + order + ` DESC LIMIT ` + q.p(limit+1)
	rows, err := s.pool.Query(ctx, sql, q.args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	byID := map[int64]int{}
	for rows.Next() {
		var (
			r  store.EventRow
			at int64
		)
		if err := rows.Scan(&r.ID, &at, &r.ChatID, &r.ChatTitle, &r.Direction, &r.Type, &r.Text, &r.DuplicateOf); err != nil {
			return page, fmt.Errorf("list events: %w", err)
		}
		r.ReceivedAt = fromMS(at)
		if len(page.Events) == limit {
			page.More = true
			break
		}
		byID[r.ID] = len(page.Events)
		page.Events = append(page.Events, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	if len(page.Events) == 0 {
		return page, nil
	}
	ids := make([]int64, 0, len(page.Events))
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	mrows, err := s.pool.Query(ctx, `SELECT event_id, rule FROM matches WHERE event_id = ANY($1) ORDER BY event_id, rule`, ids)
	if err != nil {
		return page, fmt.Errorf("list events: matches: %w", err)
	}
	defer mrows.Close()
	for mrows.Next() {
		var (
			id   int64
			rule string
		)
		if err := mrows.Scan(&id, &rule); err != nil {
			return page, fmt.Errorf("list events: matches: %w", err)
		}
		i := byID[id]
		page.Events[i].Rules = append(page.Events[i].Rules, rule)
	}
	if err := mrows.Err(); err != nil {
		return page, fmt.Errorf("list events: matches: %w", err)
	}
	return page, nil
}

// idRange returns the first id received at or after since and the last
// received before until (0 and the largest id for zero times).
func (s *Store) idRange(ctx context.Context, since, until time.Time) (lo, hi int64, err error) {
	if !since.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT id FROM events WHERE received_at >= $1 ORDER BY received_at, id LIMIT 1`, ms(since)).Scan(&lo)
		if errors.Is(err, pgx.ErrNoRows) {
			lo, err = 1<<62, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
	hi = 1 << 62
	if !until.IsZero() {
		err = s.pool.QueryRow(ctx, `SELECT id FROM events WHERE received_at < $1 ORDER BY received_at DESC, id DESC LIMIT 1`, ms(until)).Scan(&hi)
		if errors.Is(err, pgx.ErrNoRows) {
			hi, err = 0, nil
		}
	}
	return lo, hi, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// EventMatches returns the rules that matched event id, in match order.
func (s *Store) EventMatches(ctx context.Context, id int64) ([]store.EventMatch, error) {
	rows, err := s.pool.Query(ctx, `SELECT rule, ruleset_version, matched_at, throttled FROM matches WHERE event_id = $1 ORDER BY matched_at, rule`, id)
	if err != nil {
		return nil, fmt.Errorf("read matches of event %d: %w", id, err)
	}
	defer rows.Close()
	var out []store.EventMatch
	for rows.Next() {
		var (
			m  store.EventMatch
			at int64
		)
		if err := rows.Scan(&m.Rule, &m.Version, &at, &m.Throttled); err != nil {
			return nil, fmt.Errorf("read matches of event %d: %w", id, err)
		}
		m.At = fromMS(at)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read matches of event %d: %w", id, err)
	}
	return out, nil
}

// Attempts returns the attempts of job id, oldest first.
func (s *Store) Attempts(ctx context.Context, id int64) ([]store.Attempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, outcome, snoozed, status, error, latency_us FROM attempts WHERE job_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read attempts of delivery %d: %w", id, err)
	}
	defer rows.Close()
	var out []store.Attempt
	for rows.Next() {
		var (
			a       store.Attempt
			at, lat int64
			sn      int32
			status  int32
		)
		if err := rows.Scan(&at, &a.Outcome, &sn, &status, &a.Error, &lat); err != nil {
			return nil, fmt.Errorf("read attempts of delivery %d: %w", id, err)
		}
		a.At, a.Snoozed, a.Status, a.Latency = fromMS(at), sn != 0, int(status), time.Duration(lat)*time.Microsecond
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read attempts of delivery %d: %w", id, err)
	}
	return out, nil
}

// PendingChecks returns up to max pending delayed checks, the earliest due
// first; eventID, when not zero, keeps those one event scheduled.
func (s *Store) PendingChecks(ctx context.Context, eventID int64, max int) ([]store.Check, error) {
	q, args := `SELECT rule, event_id, due_at FROM timers ORDER BY due_at, id LIMIT $1`, []any{max}
	if eventID != 0 {
		q, args = `SELECT rule, event_id, due_at FROM timers WHERE event_id = $1 ORDER BY due_at, id LIMIT $2`, []any{eventID, max}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read delayed checks: %w", err)
	}
	defer rows.Close()
	var out []store.Check
	for rows.Next() {
		var (
			c   store.Check
			due int64
		)
		if err := rows.Scan(&c.Rule, &c.EventID, &due); err != nil {
			return nil, fmt.Errorf("read delayed checks: %w", err)
		}
		c.DueAt = fromMS(due)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read delayed checks: %w", err)
	}
	return out, nil
}

// ChatsAwaiting returns up to max chats awaiting a reply, the longest
// waiting first, each with the title of its latest event.
func (s *Store) ChatsAwaiting(ctx context.Context, max int) ([]store.Awaiting, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.chat_id, p.since, p.n, COALESCE(
			(SELECT e.chat_title FROM events e WHERE e.chat_id = p.chat_id ORDER BY e.id DESC LIMIT 1), '')
		FROM (SELECT chat_id, MIN(at) AS since, COUNT(*) AS n FROM chat_pending GROUP BY chat_id ORDER BY MIN(at), chat_id LIMIT $1) p
		ORDER BY p.since, p.chat_id`, max)
	if err != nil {
		return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
	}
	defer rows.Close()
	var out []store.Awaiting
	for rows.Next() {
		var (
			a  store.Awaiting
			at int64
			n  int64
		)
		if err := rows.Scan(&a.ChatID, &at, &n, &a.ChatTitle); err != nil {
			return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
		}
		a.Since, a.Messages = fromMS(at), int(n)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
	}
	return out, nil
}
