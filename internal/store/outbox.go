package store

import (
	"context"
	"fmt"
	"time"
)

// Evaluated is the outcome of evaluating one event, written by Commit.
type Evaluated struct {
	// EventID is the evaluated event.
	EventID int64
	// RulesetVersion identifies the rules the event was evaluated with.
	RulesetVersion string
	// Matched names the rules that matched.
	Matched []string
	// Jobs are the deliveries to make: one per action of a matched rule.
	Jobs []NewJob
	// Chats are chats' new conversation states (chat id -> the engine's
	// JSON), written with the results; a later result's state wins.
	Chats map[string][]byte
	// TeamPhones are team members' numbers to add to the team directory.
	TeamPhones []string
	// Timers are delayed checks of rules (`after:`) for this event.
	Timers []NewTimer
	// Throttles are the throttle checks of matched rules, by rule: a rule
	// whose key already acted within the window has its jobs dropped and
	// its match marked throttled.
	Throttles map[string]ThrottleCheck
	// Groups are the groups (of grouped rules) this event joins.
	Groups []GroupJoin
}

// GroupJoin adds an event to the open group of Rule and Key, opening one
// whose window ends Window from now if there is none.
type GroupJoin struct {
	Rule   string
	Key    string
	Window time.Duration
}

// ThrottleCheck is one throttled rule's key for an event written At: it
// acts only if no action for the key started a window still open at At;
// acting opens a window of Per.
type ThrottleCheck struct {
	Key string
	At  time.Time
	Per time.Duration
}

// NewTimer is a delayed check of one rule for the event it is stored with.
type NewTimer struct {
	Rule  string
	DueAt time.Time
}

// NewJob is a delivery job to enqueue.
type NewJob struct {
	// Rule is the matched rule's name.
	Rule string
	// Action is the index of the action within the rule.
	Action int
	// Kind is the action kind (http, slack, email, log).
	Kind string
	// Destination names the destination; never a secret.
	Destination string
	// Request is the rendered request (JSON), sent as is.
	Request []byte
	// IdempotencyKey is sent with every attempt. Empty means
	// "<event id>:<rule>:<action>".
	IdempotencyKey string
	// NextAttemptAt is when the first attempt is due; zero means now.
	NextAttemptAt time.Time
}

// Commit writes, in one transaction, the matches and delivery jobs of every
// evaluated event and moves the dispatch cursor to cursor. Each result's
// EventID must lie after the stored cursor and at or before cursor, and
// cursor may neither go back nor pass the last stored event; otherwise
// nothing is written. A crash before Commit returns re-evaluates exactly
// the uncommitted events. If ctx ends before the answer, the commit may
// still have happened: read Cursor before trying again.
func (s *Store) Commit(ctx context.Context, cursor int64, results []Evaluated) error {
	if err := checkResults(results); err != nil {
		return fmt.Errorf("commit evaluations up to %d: %w", cursor, err)
	}
	var freed int64
	err := s.write(ctx, func(w *wtx) error {
		var err error
		freed, err = commitTx(w, cursor, results)
		return err
	}, func(err error) {
		if err == nil {
			s.backlog.Add(-freed)
		}
	})
	if err != nil {
		return fmt.Errorf("commit evaluations up to %d: %w", cursor, err)
	}
	return nil
}

func checkResults(results []Evaluated) error {
	for _, r := range results {
		if r.EventID <= 0 {
			return fmt.Errorf("event id %d is not positive", r.EventID)
		}
		for _, m := range r.Matched {
			if m == "" {
				return fmt.Errorf("event %d: empty rule name in matches", r.EventID)
			}
		}
		for i, j := range r.Jobs {
			switch {
			case j.Rule == "":
				return fmt.Errorf("event %d job %d: empty rule name", r.EventID, i)
			case j.Kind == "":
				return fmt.Errorf("event %d job %d: empty kind", r.EventID, i)
			case j.Action < 0:
				return fmt.Errorf("event %d job %d: negative action index %d", r.EventID, i, j.Action)
			}
		}
	}
	return nil
}

// commitTx writes the results and returns the body bytes that left the
// backlog.
func commitTx(w *wtx, cursor int64, results []Evaluated) (freed int64, err error) {
	var old, last int64
	if err := w.one(`SELECT position FROM cursors WHERE name = ?`, []any{dispatchCursor}, &old); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	if cursor < old {
		return 0, fmt.Errorf("cursor would go back from %d", old)
	}
	if err := w.one(`SELECT COALESCE(MAX(id), 0) FROM events`, nil, &last); err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	if cursor > last {
		return 0, fmt.Errorf("cursor is past the last event %d", last)
	}
	now := ms(w.now)
	for _, r := range results {
		for id, state := range r.Chats {
			_, err := w.exec(`INSERT INTO chats (chat_id, state, updated_at) VALUES (?, ?, ?)
				ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`, id, state, now)
			if err != nil {
				return 0, fmt.Errorf("store the state of chat %q: %w", id, err)
			}
		}
		for _, p := range r.TeamPhones {
			if _, err := w.exec(`INSERT INTO team (phone, first_seen) VALUES (?, ?) ON CONFLICT (phone) DO NOTHING`, p, now); err != nil {
				return 0, fmt.Errorf("add team member: %w", err)
			}
		}
		for _, g := range r.Groups {
			if err := joinGroup(w, r.EventID, g, now); err != nil {
				return 0, err
			}
		}
		for _, tm := range r.Timers {
			_, err := w.exec(`INSERT INTO timers (rule, event_id, due_at) VALUES (?, ?, ?) ON CONFLICT (rule, event_id) DO NOTHING`,
				tm.Rule, r.EventID, ms(tm.DueAt))
			if err != nil {
				return 0, fmt.Errorf("insert timer of event %d, rule %q: %w", r.EventID, tm.Rule, err)
			}
		}
		if r.EventID <= old || r.EventID > cursor {
			return 0, fmt.Errorf("event %d is outside the range being committed (%d, %d]", r.EventID, old, cursor)
		}
		throttled, err := checkThrottles(w, r.Throttles)
		if err != nil {
			return 0, err
		}
		for _, rule := range r.Matched {
			_, err := w.exec(`INSERT INTO matches (event_id, rule, ruleset_version, matched_at, throttled) VALUES (?, ?, ?, ?, ?)`,
				r.EventID, rule, r.RulesetVersion, now, throttled[rule])
			if err != nil {
				return 0, fmt.Errorf("insert match of event %d, rule %q: %w", r.EventID, rule, err)
			}
		}
		jobs := r.Jobs
		if len(throttled) > 0 {
			jobs = nil
			for _, j := range r.Jobs {
				if !throttled[j.Rule] {
					jobs = append(jobs, j)
				}
			}
			w.throttled += len(throttled)
		}
		if err := insertJobs(w, r.EventID, r.RulesetVersion, jobs, now); err != nil {
			return 0, err
		}
	}
	if _, err := w.exec(`UPDATE cursors SET position = ? WHERE name = ?`, cursor, dispatchCursor); err != nil {
		return 0, fmt.Errorf("move cursor: %w", err)
	}
	err = w.one(`SELECT COALESCE(SUM(size), 0) FROM events WHERE id > ? AND id <= ?`, []any{old, cursor}, &freed)
	if err != nil {
		return 0, fmt.Errorf("measure dispatched events: %w", err)
	}
	return freed, nil
}

// joinGroup adds an event to its open group, opening it if needed.
func joinGroup(w *wtx, eventID int64, g GroupJoin, now int64) error {
	_, err := w.exec(`INSERT INTO groups (rule, key, window_end) VALUES (?, ?, ?)
		ON CONFLICT (rule, key) WHERE flushed = 0 DO NOTHING`, g.Rule, g.Key, now+g.Window.Milliseconds())
	if err != nil {
		return fmt.Errorf("open group of %q: %w", g.Rule, err)
	}
	var id int64
	if err := w.one(`SELECT id FROM groups WHERE rule = ? AND key = ? AND flushed = 0`, []any{g.Rule, g.Key}, &id); err != nil {
		return fmt.Errorf("find group of %q: %w", g.Rule, err)
	}
	if _, err := w.exec(`INSERT INTO group_items (group_id, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, eventID); err != nil {
		return fmt.Errorf("join group of %q: %w", g.Rule, err)
	}
	return nil
}

// checkThrottles opens a window for every check whose key has none open
// at its time, and returns the rules whose checks found one open.
func checkThrottles(w *wtx, checks map[string]ThrottleCheck) (map[string]bool, error) {
	var throttled map[string]bool
	for rule, c := range checks {
		res, err := w.exec(`INSERT INTO throttles (rule, key, until) VALUES (?, ?, ?)
			ON CONFLICT (rule, key) DO UPDATE SET until = excluded.until WHERE throttles.until <= ?`,
			rule, c.Key, ms(c.At.Add(c.Per)), ms(c.At))
		if err != nil {
			return nil, fmt.Errorf("check throttle of %q: %w", rule, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("check throttle of %q: %w", rule, err)
		} else if n == 0 {
			if throttled == nil {
				throttled = map[string]bool{}
			}
			throttled[rule] = true
		}
	}
	return throttled, nil
}

// insertJobs enqueues the jobs of one event.
func insertJobs(w *wtx, eventID int64, version string, jobs []NewJob, now int64) error {
	for _, j := range jobs {
		key := j.IdempotencyKey
		if key == "" {
			key = fmt.Sprintf("%d:%s:%d", eventID, j.Rule, j.Action)
		}
		next := now
		if !j.NextAttemptAt.IsZero() {
			next = ms(j.NextAttemptAt)
		}
		req := j.Request
		if req == nil {
			req = []byte{}
		}
		_, err := w.exec(`INSERT INTO jobs (event_id, rule, ruleset_version, action, kind, destination,
				request, idempotency_key, state, attempts, next_attempt_at, created_at, updated_at, queued_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)`,
			eventID, j.Rule, version, j.Action, j.Kind, j.Destination,
			req, key, next, now, now, now)
		if err != nil {
			return fmt.Errorf("insert job of event %d, rule %q, action %d: %w", eventID, j.Rule, j.Action, err)
		}
	}
	return nil
}

// Cursor returns the id of the last event whose evaluation was committed;
// 0 before the first Commit.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var c int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT position FROM cursors WHERE name = ?`, dispatchCursor).Scan(&c); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	return c, nil
}
