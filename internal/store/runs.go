package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ScheduleStart returns the time a schedule last ran for (or started at);
// ok is false for a schedule never seen.
func (s *Store) ScheduleStart(ctx context.Context, rule string) (last time.Time, ok bool, err error) {
	var at int64
	err = s.rdb.QueryRowContext(ctx, `SELECT last_at FROM schedules WHERE rule = ?`, rule).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read schedule of %q: %w", rule, err)
	}
	return fromMS(at), true, nil
}

// StartSchedule records that a schedule starts counting at `at` (its first
// run is its first time after that), unless it has already started.
func (s *Store) StartSchedule(ctx context.Context, rule string, at time.Time) error {
	err := s.write(ctx, func(w *wtx) error {
		_, err := w.exec(`INSERT INTO schedules (rule, last_at) VALUES (?, ?) ON CONFLICT (rule) DO NOTHING`, rule, ms(at))
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("start schedule of %q: %w", rule, err)
	}
	return nil
}

// RecordRun records the run of a scheduled rule for scheduledAt and, in the
// same transaction, moves the schedule on to it and enqueues the run's jobs
// (none when the rule's condition was false or the run was skipped). A run
// recorded before is an error wrapping ErrNotFound: a run happens once.
func (s *Store) RecordRun(ctx context.Context, rule string, scheduledAt time.Time, version string, jobs []NewJob, chats []ChatRun) error {
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`INSERT INTO runs (rule, scheduled_at, ran_at, acted) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			rule, ms(scheduledAt), ms(w.now), len(jobs) > 0)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("already ran: %w", ErrNotFound)
		}
		if _, err := w.exec(`INSERT INTO schedules (rule, last_at) VALUES (?, ?)
			ON CONFLICT (rule) DO UPDATE SET last_at = MAX(last_at, excluded.last_at)`, rule, ms(scheduledAt)); err != nil {
			return err
		}
		if err := insertJobs(w, RunEventID(scheduledAt), version, jobs, ms(w.now)); err != nil {
			return err
		}
		for _, c := range chats {
			res, err := w.exec(`INSERT INTO episodes (rule, chat_id, episode) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, rule, c.ChatID, c.Episode)
			if err != nil {
				return fmt.Errorf("record episode: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // this chat's episode was reported already
			}
			if err := insertJobs(w, c.EventID, version, c.Jobs, ms(w.now)); err != nil {
				return err
			}
		}
		return nil
	}, nil)
	if err != nil {
		return fmt.Errorf("record run of %q at %s: %w", rule, scheduledAt.Format(time.RFC3339), err)
	}
	return nil
}

// ChatRun is what a for_each: chat rule does for one chat in a run: its
// jobs, enqueued only the first time the chat's episode is seen.
type ChatRun struct {
	ChatID  string
	Episode string
	// EventID is ChatRunEventID of the run and the chat's position.
	EventID int64
	Jobs    []NewJob
}

// ChatRunEventID is the event id of the jobs of the i-th chat of a
// per-chat run: negative, and distinct across runs and chats.
func ChatRunEventID(scheduledAt time.Time, i int) int64 {
	return -(scheduledAt.Unix()*1_000_000 + int64(i%1_000_000) + 1)
}

// RunEventID is the event id the jobs of a scheduled run carry: minus the
// scheduled time in unix seconds, so that every run's jobs are distinct
// and never mistaken for a stored event's.
func RunEventID(scheduledAt time.Time) int64 { return -scheduledAt.Unix() }

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

// AllChats returns up to max stored conversation states (chat id -> JSON).
func (s *Store) AllChats(ctx context.Context, max int) (map[string][]byte, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT chat_id, state FROM chats ORDER BY updated_at DESC LIMIT ?`, max)
	if err != nil {
		return nil, fmt.Errorf("read chat states: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var (
			id    string
			state []byte
		)
		if err := rows.Scan(&id, &state); err != nil {
			return nil, fmt.Errorf("read chat states: %w", err)
		}
		out[id] = state
	}
	return out, rows.Err()
}
