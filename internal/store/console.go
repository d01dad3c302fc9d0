package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The web console's reads (issue 10). Every query here is plain SQL over
// the columns and indexes of migration 12, so that another store can run
// the same statements.

// EventFilter selects events for ListEvents. Zero fields match everything.
type EventFilter struct {
	// ChatID, Direction and Type match exactly when set.
	ChatID    string
	Direction string
	Type      string
	// Rule keeps the events that rule matched.
	Rule string
	// Text keeps the events whose message text or chat title contains it
	// (case-insensitively for ASCII). It reads the bodies, so only the
	// newest TextWindow events (within the other filters' range) are
	// searched; EventPage.TextLimited says the window cut the search.
	Text string
	// Since and Until bound the time received: [Since, Until).
	Since, Until time.Time
	// BeforeID pages: only ids below it (pass the last id of a page).
	BeforeID int64
	// Limit caps the rows; zero means 50.
	Limit int
}

// TextWindow is how many of the newest events a text search reads (about
// 15 µs each: the text is read from the JSON body). A search in one chat
// reads all of that chat's events instead.
const TextWindow = 3000

// EventRow is an event as the console lists it: the fields read from its
// body (empty when the body lacks them) and the rules that matched it.
type EventRow struct {
	ID          int64
	ReceivedAt  time.Time
	ChatID      string
	ChatTitle   string
	Direction   string
	Type        string
	Text        string
	DuplicateOf int64
	Rules       []string
}

// EventPage is one page of ListEvents.
type EventPage struct {
	Events []EventRow
	// More says older events match too (page with BeforeID).
	More bool
	// TextLimited says the text search stopped at TextWindow events.
	TextLimited bool
}

// ListEvents returns the events matching f, newest first.
func (s *Store) ListEvents(ctx context.Context, f EventFilter) (EventPage, error) {
	var page EventPage
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	conds := []string{"1 = 1"}
	var args []any
	add := func(cond string, a ...any) { conds = append(conds, cond); args = append(args, a...) }
	for _, c := range []struct{ col, val string }{{"e.chat_id", f.ChatID}, {"e.direction", f.Direction}, {"e.msg_type", f.Type}} {
		if c.val != "" {
			add(c.col+" = ?", c.val)
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
		add(idCol+" >= ? AND e.received_at >= ?", lo, ms(f.Since))
	}
	if !f.Until.IsZero() {
		add(idCol+" <= ? AND e.received_at < ?", hi, ms(f.Until))
	}
	if f.BeforeID > 0 {
		add("e.id < ?", f.BeforeID)
		if f.Rule != "" {
			add("m.event_id < ?", f.BeforeID)
		}
	}
	if f.Text != "" {
		top := hi
		if f.Until.IsZero() {
			if err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&top); err != nil {
				return page, fmt.Errorf("list events: %w", err)
			}
		}
		if f.BeforeID > 0 && f.BeforeID-1 < top {
			top = f.BeforeID - 1
		}
		floor := top - TextWindow
		if floor > lo && f.ChatID == "" {
			add(idCol+" > ?", floor)
			page.TextLimited = floor > 0
		}
		pat := "%" + escapeLike(f.Text) + "%"
		add(`(e.msg_text LIKE ? ESCAPE '\' OR e.chat_title LIKE ? ESCAPE '\')`, pat, pat)
	}
	from := "events e"
	if f.Rule != "" {
		from = "matches m JOIN events e ON e.id = m.event_id"
		add("m.rule = ?", f.Rule)
	}
	order := "e.id"
	if f.Rule != "" {
		order = "m.event_id" // the order of matches_rule (rule, event_id)
	}
	q := `SELECT e.id, e.received_at, COALESCE(e.chat_id, ''), COALESCE(e.chat_title, ''), COALESCE(e.direction, ''),
		COALESCE(e.msg_type, ''), COALESCE(e.msg_text, ''), COALESCE(e.duplicate_of, 0)
		FROM ` + from + ` WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY ` + order + ` DESC LIMIT ?`
	rows, err := s.rdb.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	byID := map[int64]int{}
	for rows.Next() {
		var (
			r  EventRow
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
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	rows.Close()
	if len(page.Events) == 0 {
		return page, nil
	}
	ids := make([]any, 0, len(page.Events))
	for _, e := range page.Events {
		ids = append(ids, e.ID)
	}
	mrows, err := s.rdb.QueryContext(ctx, `SELECT event_id, rule FROM matches WHERE event_id IN (`+placeholders(len(ids))+`) ORDER BY event_id, rule`, ids...)
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
	return page, mrows.Err()
}

// idRange returns the first id received at or after since and the last
// received before until (0 and the largest id for zero times).
func (s *Store) idRange(ctx context.Context, since, until time.Time) (lo, hi int64, err error) {
	if !since.IsZero() {
		err = s.rdb.QueryRowContext(ctx, `SELECT id FROM events WHERE received_at >= ? ORDER BY received_at, id LIMIT 1`, ms(since)).Scan(&lo)
		if errors.Is(err, sql.ErrNoRows) {
			lo, err = 1<<62, nil
		}
		if err != nil {
			return 0, 0, err
		}
	}
	hi = 1 << 62
	if !until.IsZero() {
		err = s.rdb.QueryRowContext(ctx, `SELECT id FROM events WHERE received_at < ? ORDER BY received_at DESC, id DESC LIMIT 1`, ms(until)).Scan(&hi)
		if errors.Is(err, sql.ErrNoRows) {
			hi, err = 0, nil
		}
	}
	return lo, hi, err
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// EventMatch is one rule that matched an event.
type EventMatch struct {
	Rule      string
	Version   string
	At        time.Time
	Throttled bool
}

// EventMatches returns the rules that matched event id, in match order.
func (s *Store) EventMatches(ctx context.Context, id int64) ([]EventMatch, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT rule, ruleset_version, matched_at, throttled FROM matches WHERE event_id = ? ORDER BY matched_at, rule`, id)
	if err != nil {
		return nil, fmt.Errorf("read matches of event %d: %w", id, err)
	}
	defer rows.Close()
	var out []EventMatch
	for rows.Next() {
		var (
			m  EventMatch
			at int64
			th int
		)
		if err := rows.Scan(&m.Rule, &m.Version, &at, &th); err != nil {
			return nil, fmt.Errorf("read matches of event %d: %w", id, err)
		}
		m.At, m.Throttled = fromMS(at), th != 0
		out = append(out, m)
	}
	return out, rows.Err()
}

// Attempt is one delivery attempt.
type Attempt struct {
	At      time.Time
	Outcome string
	Snoozed bool
	Status  int
	Error   string
	Latency time.Duration
}

// Attempts returns the attempts of job id, oldest first.
func (s *Store) Attempts(ctx context.Context, id int64) ([]Attempt, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT at, outcome, snoozed, status, error, latency_us FROM attempts WHERE job_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read attempts of delivery %d: %w", id, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var (
			a       Attempt
			at, lat int64
			sn      int
		)
		if err := rows.Scan(&at, &a.Outcome, &sn, &a.Status, &a.Error, &lat); err != nil {
			return nil, fmt.Errorf("read attempts of delivery %d: %w", id, err)
		}
		a.At, a.Snoozed, a.Latency = fromMS(at), sn != 0, time.Duration(lat)*time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// Check is a pending delayed check (a rule with after:).
type Check struct {
	Rule    string
	EventID int64
	DueAt   time.Time
}

// PendingChecks returns up to max pending delayed checks, the earliest due
// first; eventID, when not zero, keeps those one event scheduled.
func (s *Store) PendingChecks(ctx context.Context, eventID int64, max int) ([]Check, error) {
	q, args := `SELECT rule, event_id, due_at FROM timers ORDER BY due_at, id LIMIT ?`, []any{max}
	if eventID != 0 {
		q, args = `SELECT rule, event_id, due_at FROM timers WHERE event_id = ? ORDER BY due_at, id LIMIT ?`, []any{eventID, max}
	}
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read delayed checks: %w", err)
	}
	defer rows.Close()
	var out []Check
	for rows.Next() {
		var (
			c   Check
			due int64
		)
		if err := rows.Scan(&c.Rule, &c.EventID, &due); err != nil {
			return nil, fmt.Errorf("read delayed checks: %w", err)
		}
		c.DueAt = fromMS(due)
		out = append(out, c)
	}
	return out, rows.Err()
}

// Awaiting is a chat with messages nobody answered yet.
type Awaiting struct {
	ChatID    string
	ChatTitle string // from the chat's latest event
	Since     time.Time
	Messages  int
}

// ChatsAwaiting returns up to max chats awaiting a reply, the longest
// waiting first.
func (s *Store) ChatsAwaiting(ctx context.Context, max int) ([]Awaiting, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT chat_id, MIN(at), COUNT(*) FROM chat_pending GROUP BY chat_id ORDER BY MIN(at), chat_id LIMIT ?`, max)
	if err != nil {
		return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
	}
	var out []Awaiting
	for rows.Next() {
		var (
			a  Awaiting
			at int64
		)
		if err := rows.Scan(&a.ChatID, &at, &a.Messages); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
		}
		a.Since = fromMS(at)
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chats awaiting a reply: %w", err)
	}
	for i := range out {
		err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(chat_title, '') FROM events WHERE chat_id = ? ORDER BY id DESC LIMIT 1`, out[i].ChatID).Scan(&out[i].ChatTitle)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read the title of chat %s: %w", out[i].ChatID, err)
		}
	}
	return out, nil
}
