package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock key under which instances migrate,
// one at a time ("swbd" in ASCII).
const migrationLock = 0x73776264

// migrations are the embedded scripts in order: NNN_name.sql, version NNN.
func migrations() ([]string, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		data, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[i] = string(data)
	}
	return out, nil
}

// SchemaVersion is the schema version this program writes.
func SchemaVersion() int {
	m, _ := migrations()
	return len(m)
}

// migrate brings the schema up to date, each migration in its own
// transaction, under a session advisory lock so that instances starting
// together migrate once. A schema newer than this program is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	scripts, err := migrations()
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate schema: take the migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // the session ends anyway
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS switchboard_schema (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	var version int
	err = conn.QueryRow(ctx, `SELECT version FROM switchboard_schema`).Scan(&version)
	if err == pgx.ErrNoRows {
		if _, err := conn.Exec(ctx, `INSERT INTO switchboard_schema (version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(scripts) {
		return fmt.Errorf("the database's schema is version %d, newer than this program knows (%d): run a newer switchboard, or point --store at another database", version, len(scripts))
	}
	for v := version; v < len(scripts); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, scripts[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `UPDATE switchboard_schema SET version = $1`, v+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	return nil
}
