package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"
)

// Pruned counts the rows PruneOld deleted, by table, and the file pages it
// gave back to the file system.
type Pruned struct {
	Events, Matches, Jobs, Attempts, Quarantine, Runs int64
	// Pages is the number of free pages the incremental vacuum returned
	// (0 for a file created before auto_vacuum was set).
	Pages int64
}

// Total is the number of rows deleted.
func (p Pruned) Total() int64 {
	return p.Events + p.Matches + p.Jobs + p.Attempts + p.Quarantine + p.Runs
}

func (p *Pruned) add(q Pruned) {
	p.Events += q.Events
	p.Matches += q.Matches
	p.Jobs += q.Jobs
	p.Attempts += q.Attempts
	p.Quarantine += q.Quarantine
	p.Runs += q.Runs
}

// deletableEvent is the condition on an events row that lets retention
// delete it: older than the window (?1) and nothing still depends on it: no
// delivery job at all (finished jobs go first, when they are old too), no
// delayed check, not in an open group. (The caller keeps to ids the
// dispatcher has passed.)
const deletableEvent = `received_at < ?
	AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM timers t WHERE t.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM open_group_items g WHERE g.event_id = events.id)
	AND NOT EXISTS (SELECT 1 FROM open_groups g WHERE g.event_id = events.id)`

// PruneBatch is the batch size PruneOld uses when given none: with 100
// rows a batch, pruning 1,000,000 events under ingest kept the appends'
// p99 at 5-10 ms (vacuum included) against 23-27 ms with 500
// (BenchmarkPruneOldUnderIngest, BENCHMARKS.md).
const PruneBatch = 100

// PruneOld deletes what is older than before and no longer needed: finished
// delivery jobs (done or dead, last changed before it) with their attempts,
// then the events before it that the dispatcher has passed and nothing
// pending refers to (see deletableEvent) with their matches, quarantined
// bodies and schedule runs. Dedupe keys are not its business (Prune, with
// the dedupe window). Each batch of at most batch rows per table is one
// write request, not fsynced (a batch lost in a crash is deleted again next
// time), so that the writer serves the requests of ingest between batches
// and an Append never waits behind a whole pass. It returns what it
// deleted, also when ctx ends midway (with ctx's error).
func (s *Store) PruneOld(ctx context.Context, before time.Time, batch int) (Pruned, error) {
	if batch <= 0 {
		batch = PruneBatch
	}
	var total Pruned
	cut := ms(before)
	// Finished jobs, walked in id order (the order they were created)
	// until the jobs are younger than the window.
	jobs, err := s.prunePages(ctx, `SELECT MAX(id), MIN(created_at) FROM (SELECT id, created_at FROM jobs WHERE id > ? ORDER BY id LIMIT ?)`,
		func(after int64) []any { return []any{after, batch} }, cut,
		func(w *wtx, after, upto int64, got *Pruned) error {
			res, err := w.exec(`DELETE FROM attempts WHERE job_id IN (SELECT id FROM jobs
				WHERE id > ? AND id <= ? AND state IN ('done', 'dead') AND updated_at < ?)`, after, upto, cut)
			if err != nil {
				return err
			}
			got.Attempts, _ = res.RowsAffected()
			res, err = w.exec(`DELETE FROM jobs WHERE id > ? AND id <= ? AND state IN ('done', 'dead') AND updated_at < ?`, after, upto, cut)
			if err != nil {
				return err
			}
			got.Jobs, _ = res.RowsAffected()
			return nil
		}, nil)
	total.add(jobs)
	if err != nil {
		return total, fmt.Errorf("prune old deliveries: %w", err)
	}
	// Events the dispatcher has passed, in id order, until they are
	// younger than the window.
	events, err := s.prunePages(ctx, `SELECT MAX(id), MIN(received_at) FROM (SELECT id, received_at FROM events
				WHERE id > ? AND id <= (SELECT position FROM cursors WHERE name = ?) ORDER BY id LIMIT ?)`,
		func(after int64) []any { return []any{after, dispatchCursor, batch} }, cut,
		func(w *wtx, after, upto int64, got *Pruned) error {
			res, err := w.exec(`DELETE FROM matches WHERE event_id IN (SELECT id FROM events
				WHERE id > ? AND id <= ? AND `+deletableEvent+`)`, after, upto, cut)
			if err != nil {
				return err
			}
			got.Matches, _ = res.RowsAffected()
			res, err = w.exec(`DELETE FROM events WHERE id > ? AND id <= ? AND `+deletableEvent, after, upto, cut)
			if err != nil {
				return err
			}
			got.Events, _ = res.RowsAffected()
			return nil
		}, func(got Pruned) { s.events.Add(-got.Events) })
	total.add(events)
	if err != nil {
		return total, fmt.Errorf("prune old events: %w", err)
	}
	// The small tables: quarantined bodies (bounded anyway) and schedule
	// runs (a run older than the window is long behind its schedule's
	// position, so forgetting it never runs it again).
	for _, q := range []struct {
		query string
		n     *int64
	}{
		{`DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at < ? ORDER BY id LIMIT ?)`, &total.Quarantine},
		{`DELETE FROM runs WHERE rowid IN (SELECT rowid FROM runs WHERE ran_at < ? LIMIT ?)`, &total.Runs},
		{`DELETE FROM matches WHERE rowid IN (SELECT rowid FROM matches WHERE event_id < 0 AND matched_at < ? LIMIT ?)`, &total.Matches},
	} {
		for {
			var n int64
			err := s.write(ctx, func(w *wtx) error {
				res, err := w.exec(q.query, cut, batch)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			}, nil)
			if err != nil {
				return total, fmt.Errorf("prune old rows: %w", err)
			}
			*q.n += n
			if n < int64(batch) {
				break
			}
		}
	}
	if total.Total() > 0 {
		pages, err := s.vacuum(ctx)
		total.Pages = pages
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// prunePages walks a table in id order, a page of rows per write request
// (not fsynced), until its rows are younger than cut: window selects the
// page's last id and its oldest time (with the arguments args gives for
// the last id done), del deletes what may go in the page, and committed
// (if set) is told what a committed page deleted.
func (s *Store) prunePages(ctx context.Context, window string, args func(after int64) []any, cut int64,
	del func(w *wtx, after, upto int64, got *Pruned) error, committed func(Pruned),
) (Pruned, error) {
	var total Pruned
	for after := int64(0); ; {
		var (
			got  Pruned
			upto int64
			done bool
		)
		err := s.write(ctx, func(w *wtx) error {
			got, upto, done = Pruned{}, 0, false
			var oldest sql.NullInt64
			if err := w.one(window, args(after), &sqlNullID{&upto}, &oldest); err != nil {
				return err
			}
			if upto == 0 || !oldest.Valid || oldest.Int64 >= cut {
				done = true
				return nil
			}
			return del(w, after, upto, &got)
		}, func(err error) {
			if err == nil && committed != nil {
				committed(got)
			}
		})
		if err != nil {
			return total, err
		}
		total.add(got)
		if done {
			return total, nil
		}
		after = upto
	}
}

// vacuumPages is the most free pages one incremental vacuum request gives
// back to the file system (4 KiB pages: 1 MiB).
const vacuumPages = 256

// vacuum gives the free pages back to the file system, vacuumPages per
// write request, if the file was created with auto_vacuum=INCREMENTAL (every
// file this version creates: SQLite lets it be chosen only before the first
// table; an older file keeps auto_vacuum=NONE and reuses its free pages for
// new rows instead, and the README says how to convert one offline). It
// returns the pages freed.
func (s *Store) vacuum(ctx context.Context) (int64, error) {
	var mode int
	if err := s.rdb.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return 0, fmt.Errorf("read auto_vacuum: %w", err)
	}
	if mode != 2 { // 2: incremental
		return 0, nil
	}
	var total int64
	for {
		var before, after int64
		err := s.write(ctx, func(w *wtx) error {
			if err := w.one(`PRAGMA freelist_count`, nil, &before); err != nil || before == 0 {
				return err
			}
			rows, err := w.query(fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumPages))
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			if err := rows.Close(); err != nil {
				return err
			}
			return w.one(`PRAGMA freelist_count`, nil, &after)
		}, nil)
		if err != nil {
			return total, fmt.Errorf("incremental vacuum: %w", err)
		}
		total += before - after
		if after == 0 || before == after {
			return total, nil
		}
	}
}

// sqlNullID scans an integer that may be NULL (MAX of no rows) as 0.
type sqlNullID struct{ p *int64 }

func (n *sqlNullID) Scan(v any) error {
	var x sql.NullInt64
	if err := x.Scan(v); err != nil {
		return err
	}
	*n.p = x.Int64
	return nil
}

// Bytes is the size of the store's files on disk: the database and its
// write-ahead log.
func (s *Store) Bytes() int64 {
	var n int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
