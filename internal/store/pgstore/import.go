package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// Exporter is the source of Import: the SQLite store (*store.Store).
type Exporter interface {
	Export(ctx context.Context, table string, fn func(row []any) error) error
	Cursor(ctx context.Context) (int64, error)
}

// binary are the columns stored as BYTEA; flags those stored as BOOLEAN.
var (
	binary = map[string]bool{"events.body": true, "events.dedupe_key": true, "dedupe.key": true,
		"jobs.request": true, "quarantine.body": true, "chats.state": true}
	flags = map[string]bool{"matches.throttled": true}
)

// Import copies a stopped SQLite store into this database, which must hold
// no events, deliveries or chats yet: every table of store.ExportTables in
// one transaction (COPY), the events up to the source's cursor marked
// evaluated, delivery leases voided, and the id sequences moved past the
// copied ids. It returns the rows copied by table.
func (s *Store) Import(ctx context.Context, src Exporter) (map[string]int64, error) {
	cursor, err := src.Cursor(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	counts := map[string]int64{}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var busy bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM jobs) OR EXISTS (SELECT 1 FROM chats)`).Scan(&busy); err != nil {
			return err
		}
		if busy {
			return errors.New("the database already holds events, deliveries or chats; migrate into a new, empty database")
		}
		for _, t := range store.ExportTables {
			n, err := copyTable(ctx, tx, src, t.Name, t.Columns, cursor)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t.Name, err)
			}
			counts[t.Name] = n
		}
		for _, seq := range []string{"events", "jobs", "attempts", "quarantine", "timers"} {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval('%[1]s_id_seq', GREATEST((SELECT MAX(id) FROM %[1]s), 1))`, seq)); err != nil {
				return fmt.Errorf("move the %s ids on: %w", seq, err)
			}
		}
		_, err := tx.Exec(ctx, `UPDATE cursors SET position = $1 WHERE name = 'dispatch'`, cursor)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return counts, nil
}

// copyTable streams one table from src into tx with COPY.
func copyTable(ctx context.Context, tx pgx.Tx, src Exporter, table string, cols []string, cursor int64) (int64, error) {
	dest := append([]string(nil), cols...)
	if table == "events" {
		dest = append(dest, "evaluated")
	}
	rows := make(chan []any, 256)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(rows)
		errc <- src.Export(ctx, table, func(row []any) error {
			for i, c := range cols {
				row[i] = convert(table+"."+c, row[i])
			}
			if table == "events" {
				id, _ := row[0].(int64)
				row = append(row, id <= cursor)
			}
			select {
			case rows <- row:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, dest, pgx.CopyFromFunc(func() ([]any, error) {
		row, ok := <-rows
		if !ok {
			return nil, nil
		}
		return row, nil
	}))
	cancel()
	for range rows { // let the exporter finish
	}
	if xerr := <-errc; xerr != nil && err == nil {
		err = xerr
	}
	return n, err
}

// convert turns a SQLite value into the PostgreSQL column's type.
func convert(col string, v any) any {
	switch {
	case v == nil:
		return nil
	case binary[col]:
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case flags[col]:
		if n, ok := v.(int64); ok {
			return n != 0
		}
	default:
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}
