package store

import (
	"context"
	"fmt"
	"slices"
)

// ExportTables are the tables Export copies out, in an order in which a
// copy can be loaded (for `switchboard migrate`), with their columns.
var ExportTables = []struct {
	Name    string
	Columns []string
}{
	{"events", []string{"id", "received_at", "body", "size", "dedupe_key", "duplicate_of"}},
	{"dedupe", []string{"key", "event_id", "seen_at"}},
	{"matches", []string{"event_id", "rule", "ruleset_version", "matched_at", "throttled"}},
	{"jobs", []string{"id", "event_id", "rule", "ruleset_version", "action", "kind", "destination", "request", "idempotency_key",
		"state", "attempts", "next_attempt_at", "last_status", "last_error", "created_at", "updated_at", "queued_at"}},
	{"attempts", []string{"id", "job_id", "at", "outcome", "snoozed", "status", "error", "latency_us"}},
	{"quarantine", []string{"id", "received_at", "reason", "body"}},
	{"chats", []string{"chat_id", "state", "updated_at"}},
	{"chat_pending", []string{"chat_id", "at"}},
	{"team", []string{"phone", "first_seen"}},
	{"timers", []string{"id", "rule", "event_id", "due_at"}},
	{"schedules", []string{"rule", "last_at"}},
	{"runs", []string{"rule", "scheduled_at", "ran_at", "acted"}},
	{"throttles", []string{"rule", "key", "acts"}},
	{"open_groups", []string{"rule", "key", "start", "event_id"}},
	{"open_group_items", []string{"rule", "key", "start", "event_id"}},
}

// Export calls fn with every row of table (one of ExportTables), its
// values in the order of the table's Columns: int64, string, []byte or nil
// (NULL), from one read snapshot per table. Stop the service first: rows
// written meanwhile may be missed.
func (s *Store) Export(ctx context.Context, table string, fn func(row []any) error) error {
	i := slices.IndexFunc(ExportTables, func(t struct {
		Name    string
		Columns []string
	}) bool {
		return t.Name == table
	})
	if i < 0 {
		return fmt.Errorf("export: no table %q", table)
	}
	cols := ExportTables[i].Columns
	q := "SELECT " + cols[0]
	for _, c := range cols[1:] {
		q += ", " + c
	}
	q += " FROM " + table + " ORDER BY rowid"
	rows, err := s.rdb.QueryContext(ctx, q)
	if err != nil {
		return fmt.Errorf("export %s: %w", table, err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("export %s: %w", table, err)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export %s: %w", table, err)
	}
	return nil
}
