package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Batch is what one evaluation commits, in one transaction: the matches
// and delivery jobs of the events up to Cursor (and of the delayed checks,
// groups and scheduled runs evaluated with them), and the changes to the
// conversation state. The store decides nothing: it writes the rows.
type Batch struct {
	// Cursor is the id of the last event evaluated; it may equal the stored
	// cursor (a batch of time-driven work only) but never go back.
	Cursor int64
	// Events are the ids of the events evaluated in this batch. The SQLite
	// store, whose ids are commit-ordered, goes by Cursor alone; a store
	// whose ids are not (PostgreSQL, several writers) marks exactly these
	// evaluated and refuses the batch if one of them already was.
	Events []int64
	// Version identifies the rules that decided.
	Version string
	Matches []Match
	Jobs    []NewJob
	State   StateChanges
}

// Match is one rule that matched one event.
type Match struct {
	EventID int64
	Rule    string
	// Throttled: a throttle dropped the match's actions.
	Throttled bool
}

// NewJob is a delivery job to enqueue.
type NewJob struct {
	// EventID is the event the job acts for (negative for scheduled runs).
	EventID int64
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
	// Failed, if set, makes the job a dead letter from the start, with
	// this reason (an action whose templates failed to render): it is
	// listed and counted like any dead letter, and can be replayed.
	Failed string
}

// StateChanges are the conversation engine's changes to persist.
type StateChanges struct {
	// Team are numbers to add to the team directory.
	Team  []string
	Chats []ChatRow
	// Throttles replace the acted times of their windows.
	Throttles []ThrottleRow
	// Joined are messages joining groups (the first opens the group);
	// Closed are groups to remove.
	Joined []GroupJoin
	Closed []GroupRef
	// Timers are delayed checks to keep; Checked the ids of those that
	// ran (deleted).
	Timers  []TimerRow
	Checked []int64
	// Schedules move schedules on: the time of their last run (or start).
	Schedules []ScheduleRow
}

// ChatRow is one chat's new state: its record (the engine's JSON, without
// its pending times) and the change to its pending times.
type ChatRow struct {
	ID      string
	State   []byte
	Added   []time.Time
	Removed []time.Time
}

// ThrottleRow is a throttle window's acted times.
type ThrottleRow struct {
	Rule, Key string
	Acts      []time.Time
}

// GroupRef names an open group.
type GroupRef struct {
	Rule, Key string
	Start     time.Time
}

// GroupJoin is a message joining a group; Opened marks the first.
type GroupJoin struct {
	GroupRef
	EventID int64
	Opened  bool
}

// TimerRow is a delayed check of Rule for EventID, due at Due.
type TimerRow struct {
	Rule    string
	EventID int64
	Due     time.Time
}

// ScheduleRow is where a schedule stands; Ran marks a run (recorded in
// runs), as opposed to a schedule starting.
type ScheduleRow struct {
	Rule string
	At   time.Time
	Ran  bool
}

// Commit writes a batch in one transaction and moves the dispatch cursor.
// Every match lies after the stored cursor and at or before Batch.Cursor,
// and the cursor may neither go back nor pass the last stored event;
// otherwise nothing is written. A crash before Commit returns re-evaluates
// exactly the uncommitted events. If ctx ends before the answer, the commit
// may still have happened: read Cursor before trying again.
func (s *Store) Commit(ctx context.Context, b Batch) error {
	if err := checkBatch(b); err != nil {
		return fmt.Errorf("commit evaluations up to %d: %w", b.Cursor, err)
	}
	var freed int64
	err := s.write(ctx, func(w *wtx) error {
		var err error
		freed, err = commitTx(w, b)
		return err
	}, func(err error) {
		if err == nil {
			s.backlog.Add(-freed)
		}
	})
	if err != nil {
		return fmt.Errorf("commit evaluations up to %d: %w", b.Cursor, err)
	}
	return nil
}

func checkBatch(b Batch) error {
	for _, m := range b.Matches {
		if m.EventID <= 0 {
			return fmt.Errorf("match of event %d: event id is not positive", m.EventID)
		}
		if m.Rule == "" {
			return fmt.Errorf("event %d: empty rule name in matches", m.EventID)
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
	return nil
}

// commitTx writes the batch and returns the body bytes that left the
// backlog.
func commitTx(w *wtx, b Batch) (freed int64, err error) {
	var old, last int64
	if err := w.one(`SELECT position FROM cursors WHERE name = ?`, []any{dispatchCursor}, &old); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	if b.Cursor < old {
		return 0, fmt.Errorf("cursor would go back from %d", old)
	}
	if b.Cursor > old {
		if err := w.one(`SELECT COALESCE(MAX(id), 0) FROM events`, nil, &last); err != nil {
			return 0, fmt.Errorf("read last event id: %w", err)
		}
		if b.Cursor > last {
			return 0, fmt.Errorf("cursor is past the last event %d", last)
		}
	}
	now := ms(w.now)
	for _, m := range b.Matches {
		if m.EventID <= old || m.EventID > b.Cursor {
			return 0, fmt.Errorf("event %d is outside the range being committed (%d, %d]", m.EventID, old, b.Cursor)
		}
		if m.Throttled {
			w.throttled++
		}
	}
	err = w.insertRows(`INSERT INTO matches (event_id, rule, ruleset_version, matched_at, throttled) VALUES`, ``, 5, len(b.Matches),
		func(i int, a []any) []any {
			m := b.Matches[i]
			return append(a, m.EventID, m.Rule, b.Version, now, m.Throttled)
		})
	if err != nil {
		return 0, fmt.Errorf("insert matches: %w", err)
	}
	if err := insertJobs(w, b.Version, b.Jobs, now); err != nil {
		return 0, err
	}
	if err := writeState(w, b.State, now); err != nil {
		return 0, err
	}
	if b.Cursor > old {
		if _, err := w.exec(`UPDATE cursors SET position = ? WHERE name = ?`, b.Cursor, dispatchCursor); err != nil {
			return 0, fmt.Errorf("move cursor: %w", err)
		}
		err = w.one(`SELECT COALESCE(SUM(size), 0) FROM events WHERE id > ? AND id <= ?`, []any{old, b.Cursor}, &freed)
		if err != nil {
			return 0, fmt.Errorf("measure dispatched events: %w", err)
		}
	}
	return freed, nil
}

// insertJobs enqueues jobs, several rows per statement.
func insertJobs(w *wtx, version string, jobs []NewJob, now int64) error {
	err := w.insertRows(`INSERT INTO jobs (event_id, rule, ruleset_version, action, kind, destination,
			request, idempotency_key, state, attempts, next_attempt_at, created_at, updated_at, queued_at, last_error) VALUES`, ``, 15, len(jobs),
		func(i int, a []any) []any {
			j := jobs[i]
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
			state := StatePending
			if j.Failed != "" {
				state = StateDead
			}
			return append(a, j.EventID, j.Rule, version, j.Action, j.Kind, j.Destination, req, key, state, 0, next, now, now, now, j.Failed)
		})
	if err != nil {
		return fmt.Errorf("insert jobs: %w", err)
	}
	return nil
}

// insertRows runs prefix followed by n rows of cols placeholders and
// suffix, up to rowsPerStatement rows per statement; args appends the
// values of row i.
func (w *wtx) insertRows(prefix, suffix string, cols, n int, args func(i int, a []any) []any) error {
	for start := 0; start < n; start += rowsPerStatement {
		k := min(n-start, rowsPerStatement)
		a := make([]any, 0, k*cols)
		for i := start; i < start+k; i++ {
			a = args(i, a)
		}
		if _, err := w.exec(rowsQuery(prefix, suffix, cols, k), a...); err != nil {
			return err
		}
	}
	return nil
}

// rowsPerStatement bounds a multi-row statement (SQLite allows 32,766
// parameters; prepared statements are cached per row count).
const rowsPerStatement = 64

func rowsQuery(prefix, suffix string, cols, rows int) string {
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte(' ')
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	if suffix != "" {
		b.WriteByte(' ')
		b.WriteString(suffix)
	}
	return b.String()
}

// msList encodes times as a JSON list of unix milliseconds.
func msList(ts []time.Time) []byte {
	v := make([]int64, len(ts))
	for i, t := range ts {
		v[i] = ms(t)
	}
	data, _ := json.Marshal(v) // a list of numbers always encodes
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

// Cursor returns the id of the last event whose evaluation was committed;
// 0 before the first Commit.
func (s *Store) Cursor(ctx context.Context) (int64, error) {
	var c int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT position FROM cursors WHERE name = ?`, dispatchCursor).Scan(&c); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	return c, nil
}
