package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// NewEvent is an event to append.
type NewEvent struct {
	// Body is the raw request body, stored byte-exact. Append copies it.
	Body []byte
	// DedupeKey identifies the same WhatsApp message (the caller derives it
	// with engine.DedupeKey: message.id, direction and chat_id, or a hash of
	// the body when there is no message.id). An event whose key was seen
	// within the dedupe window is a duplicate: it is still stored, as a copy
	// whose Event.DuplicateOf names the original, so that rules opting out of
	// dedupe see it. Empty never deduplicates.
	DedupeKey string
	// ReceivedAt is when the request arrived; zero means now.
	ReceivedAt time.Time
}

// Appended is the outcome of Append.
type Appended struct {
	// ID is the event's id; for a duplicate, the id of the original event.
	ID int64
	// Duplicate reports that DedupeKey was already stored: the original is
	// durable, and this body was written as a copy (Row).
	Duplicate bool
	// Row is the id of the row just written: the copy for a duplicate,
	// equal to ID otherwise.
	Row int64
}

// Event is a stored event.
type Event struct {
	// ID orders events: assigned at commit, only growing.
	ID int64
	// ReceivedAt is NewEvent.ReceivedAt, to the millisecond, in UTC.
	ReceivedAt time.Time
	// Body is the raw body, byte-exact (never nil).
	Body []byte
	// DedupeKey is NewEvent.DedupeKey.
	DedupeKey string
	// DuplicateOf is, for a copy of an already stored message, the id of
	// the original event; 0 for an original. The dispatcher evaluates a copy
	// only against rules that opt out of dedupe.
	DuplicateOf int64
}

// Append stores one event durably and returns only after the transaction
// holding it committed (fsynced), batched with concurrent Appends. A
// duplicate (see NewEvent.DedupeKey) is stored too, as a copy, and counts
// toward the disk budget like any event.
//
// It returns an error wrapping ErrFull, quickly and without writing, when
// the undispatched backlog would exceed Options.MaxBytes; ErrFailed once a
// commit has failed; ErrClosed after Close. When ctx ends first, Append
// returns ctx's error and the event may or may not have been stored.
func (s *Store) Append(ctx context.Context, in NewEvent) (Appended, error) {
	if err := s.Err(); err != nil {
		return Appended{}, fmt.Errorf("append event: %w", err)
	}
	size := int64(len(in.Body))
	if !s.reserve(size) {
		return Appended{}, fmt.Errorf("append event of %d bytes: %w", size, ErrFull)
	}
	body := bytes.Clone(in.Body)
	if body == nil {
		body = []byte{} // NOT NULL: nil would bind as NULL
	}
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.opt.Now()
	}
	key := in.DedupeKey

	var out Appended
	r := &request{
		durable: true,
		append:  &appendArgs{body: body, key: key, at: at, out: &out},
		finish: func(err error) {
			if err != nil {
				s.backlog.Add(-size)
				return
			}
			s.events.Add(1)
		},
	}
	enqueued, err := s.submit(ctx, r)
	if !enqueued {
		s.backlog.Add(-size)
	}
	if err != nil {
		return Appended{}, fmt.Errorf("append event: %w", err)
	}
	return out, nil
}

// reserve adds size to the backlog unless that would exceed the budget.
// The writer releases the reservation if the event is not stored.
func (s *Store) reserve(size int64) bool {
	n := s.backlog.Add(size)
	if s.opt.MaxBytes > 0 && n > s.opt.MaxBytes {
		s.backlog.Add(-size)
		return false
	}
	return true
}

// appendArgs is one Append's event, written with the batch's other
// appends by appendMany.
type appendArgs struct {
	body []byte
	key  string
	at   time.Time
	out  *Appended
}

// appendMany stores the events of a batch's appends, a few statements for
// all of them: the events, several rows per INSERT; one look-up of the
// dedupe keys already stored; the new keys, several rows per INSERT; and,
// for each duplicate (rarer), the mark on its row. An error aborts the
// batch: these statements fail only when the whole file does.
func appendMany(w *wtx, as []*appendArgs) error {
	for start := 0; start < len(as); start += rowsPerStatement {
		chunk := as[start:min(len(as), start+rowsPerStatement)]
		if err := appendChunk(w, chunk); err != nil {
			return err
		}
	}
	return nil
}

func appendChunk(w *wtx, as []*appendArgs) error {
	// The ids are read with LastInsertId rather than RETURNING: in SQLite,
	// RETURNING buffers its rows in a temporary table. The rows of one
	// INSERT get consecutive ids (one writer, AUTOINCREMENT).
	res, err := w.exec(rowsQuery(`INSERT INTO events (received_at, body, size, dedupe_key) VALUES`, ``, 4, len(as)),
		appendValues(as)...)
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(as), err)
	}
	last, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(as), err)
	}
	first := last - int64(len(as)) + 1
	var keys []any
	for i, a := range as {
		*a.out = Appended{ID: first + int64(i), Row: first + int64(i)}
		if a.key != "" {
			keys = append(keys, a.key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	seen := make(map[string]int64, len(keys)) // key -> the original's id
	rows, err := w.query(`SELECT key, event_id FROM dedupe WHERE key IN (?`+strings.Repeat(", ?", len(keys)-1)+`)`, keys...)
	if err != nil {
		return fmt.Errorf("look up dedupe keys: %w", err)
	}
	for rows.Next() {
		var (
			k  string
			id int64
		)
		if err := rows.Scan(&k, &id); err != nil {
			rows.Close()
			return fmt.Errorf("look up dedupe keys: %w", err)
		}
		seen[k] = id
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("look up dedupe keys: %w", err)
	}
	var fresh []*appendArgs
	for _, a := range as {
		if a.key == "" {
			continue
		}
		if orig, dup := seen[a.key]; dup {
			a.out.ID, a.out.Duplicate = orig, true
			if _, err := w.exec(`UPDATE events SET duplicate_of = ? WHERE id = ?`, orig, a.out.Row); err != nil {
				return fmt.Errorf("mark duplicate: %w", err)
			}
			continue
		}
		seen[a.key] = a.out.Row // a later copy in this batch is its duplicate
		fresh = append(fresh, a)
	}
	now := ms(w.now)
	err = w.insertRows(`INSERT INTO dedupe (key, event_id, seen_at) VALUES`, ``, 3, len(fresh),
		func(i int, v []any) []any { return append(v, fresh[i].key, fresh[i].out.Row, now) })
	if err != nil {
		return fmt.Errorf("insert dedupe keys: %w", err)
	}
	return nil
}

func appendValues(as []*appendArgs) []any {
	v := make([]any, 0, 4*len(as))
	for _, a := range as {
		var key any // NULL when there is no key
		if a.key != "" {
			key = a.key
		}
		v = append(v, ms(a.at), a.body, len(a.body), key)
	}
	return v
}

// DedupeWindow is the shortest time a dedupe key is kept: an event whose key
// was stored less than this long ago is always a duplicate, across restarts.
const DedupeWindow = 7 * 24 * time.Hour

// Prune deletes dedupe keys first seen before the given time and returns how
// many it deleted; the events themselves are kept. Keys younger than
// DedupeWindow are never deleted, whatever before says.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	if limit := s.opt.Now().Add(-DedupeWindow); before.After(limit) {
		before = limit
	}
	var n int64
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM dedupe WHERE seen_at < ?`, ms(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("prune dedupe keys: %w", err)
	}
	return n, nil
}

// ReadEvents returns up to max committed events with id > after, in id order,
// copies of duplicates included (DuplicateOf set). Ids only grow and a reader never sees a later id before an earlier one
// commits, so a cursor of the last id read is safe.
func (s *Store) ReadEvents(ctx context.Context, after int64, max int) ([]Event, error) {
	if max <= 0 {
		return nil, fmt.Errorf("read events: max must be positive, got %d", max)
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE id > ? ORDER BY id LIMIT ?`, after, max)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	out, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// eventColumns are the columns scanEvent reads, in order.
const eventColumns = `id, received_at, body, dedupe_key, duplicate_of`

// eventColumnsOf is eventColumns of the table aliased as alias.
func eventColumnsOf(alias string) string {
	return alias + ".id, " + alias + ".received_at, " + alias + ".body, " + alias + ".dedupe_key, " + alias + ".duplicate_of"
}

// scanEvents reads rows of eventColumns and closes them.
func scanEvents(rows *sql.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// scanEvent scans one row of the columns before, then eventColumns.
func scanEvent(rows *sql.Rows, before ...any) (Event, error) {
	var (
		e   Event
		at  int64
		key sql.NullString
		dup sql.NullInt64
	)
	if err := rows.Scan(append(before, &e.ID, &at, &e.Body, &key, &dup)...); err != nil {
		return Event{}, err
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	e.ReceivedAt, e.DedupeKey, e.DuplicateOf = fromMS(at), key.String, dup.Int64
	return e, nil
}
