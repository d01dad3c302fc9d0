// Package store is Switchboard's embedded durable store: one SQLite file
// (modernc.org/sqlite, pure Go) holding the event log, the dedupe keys, the
// dispatch cursor, the delivery outbox with its attempts, and the quarantine
// of bodies that failed to parse.
//
// Every write goes through one writer goroutine that groups concurrent
// requests into one transaction (group commit), so that an acknowledged write
// has been fsynced (WAL, synchronous=FULL) without capping throughput at one
// fsync per request. Reads use a separate pool of read-only connections,
// which WAL lets run beside the writer.
//
// A failed COMMIT leaves the file in a state the process cannot trust, so it
// makes the store permanently failed: every later write returns an error
// wrapping [ErrFailed] and the caller is expected to exit and restart.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the name of the SQLite file inside the data directory.
const FileName = "switchboard.db"

// lockName is the lock file that keeps a second process out of the directory.
const lockName = "switchboard.lock"

var (
	// ErrFailed is wrapped by every write after a commit failed: the store no
	// longer knows what is on disk and the process should exit.
	ErrFailed = errors.New("store failed")
	// ErrFull is returned by Append when the undispatched backlog would exceed
	// Options.MaxBytes; the caller should answer 503 with Retry-After.
	ErrFull = errors.New("store: backlog exceeds disk budget")
	// ErrDiskFull is returned by writes made while the disk (or the file
	// system holding the data directory) is full; it wraps ErrFull, so that
	// callers answer it the same way. Nothing is lost: the write did not
	// happen, and the store recovers by itself once there is room (see
	// Full).
	ErrDiskFull = fmt.Errorf("%w: no space left on the disk", ErrFull)
	// ErrClosed is returned by calls made after Close.
	ErrClosed = errors.New("store: closed")
	// ErrNotFound is returned when the addressed row does not exist or is not
	// in a state the call applies to.
	ErrNotFound = errors.New("store: not found")
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// MaxBatch is the most write requests committed in one transaction.
	// Zero means 64.
	MaxBatch int
	// MaxWait bounds how long the writer holds a batch open for requests that
	// have already entered a write call but not yet reached the queue, or,
	// after a batch of several durable writes, for as many again. The
	// writer never waits when no other write is in flight and the previous
	// batch held one durable write at most, so a lone Append commits at
	// once. Zero means 2ms; negative means never wait (nor yield).
	MaxWait time.Duration
	// MaxBytes is the disk budget: the most body bytes of events not yet
	// passed by the dispatch cursor. Append returns ErrFull beyond it (so a
	// body larger than MaxBytes is never accepted). Zero means unlimited.
	MaxBytes int64
	// QuarantineMax is the most quarantined bodies kept; the oldest are
	// dropped. Zero means 1000.
	QuarantineMax int
	// Readers is the size of the read-only connection pool. Zero means 4.
	Readers int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives the one error logged when the store fails; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnCommit, if set, is called after every committed write transaction
	// with its size and the time COMMIT took (for metrics). It runs on the
	// writer goroutine before the batch's requests are answered, so it must
	// be quick and must not call the store.
	OnCommit func(CommitInfo)

	// beforeCommit, when set (tests only), runs just before each COMMIT; an
	// error makes that commit fail as a failed fsync would.
	beforeCommit func() error
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.MaxWait == 0 {
		o.MaxWait = 2 * time.Millisecond
	}
	if o.QuarantineMax <= 0 {
		o.QuarantineMax = 1000
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the embedded durable store. It is safe for concurrent use.
type Store struct {
	opt  Options
	path string

	lock  *os.File  // flock on the data directory; nil where unsupported
	wdb   *sql.DB   // writer pool: one connection, owned by the writer goroutine
	wconn *sql.Conn // the writer's connection
	rdb   *sql.DB   // read-only pool

	reqs       chan *request // durable requests, to the writer goroutine
	side       chan *request // the other requests, to the writer goroutine
	queued     atomic.Int64  // write calls inside submit, not yet taken by the writer
	queuedDur  atomic.Int64  // of which durable
	writerDone chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool

	closeOnce sync.Once
	closeErr  error

	failOnce sync.Once
	failErr  atomic.Pointer[error] // set once when the store fails

	// fullAt is when a write last failed for lack of disk space (unix
	// nanoseconds), 0 once an Append fits again (see Full).
	fullAt  atomic.Int64
	backlog atomic.Int64 // body bytes after the cursor, plus Append reservations
	events  atomic.Int64 // rows in events
	commits atomic.Int64 // write transactions committed since Open
	durable atomic.Int64 // of which with synchronous=FULL
	// throttled counts matches whose actions a throttle dropped.
	throttled atomic.Int64
}

// Open opens (creating if needed) the store in directory dir, applies schema
// migrations, and starts the writer goroutine. Only one process may have a
// directory open; a second Open fails while the first is running. Call Close
// when done.
func Open(ctx context.Context, dir string, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store: resolve %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data directory: %w", err)
	}
	s := &Store{
		opt:        opt,
		path:       filepath.Join(abs, FileName),
		reqs:       make(chan *request, 4*opt.MaxBatch),
		side:       make(chan *request, 4*opt.MaxBatch),
		writerDone: make(chan struct{}),
	}
	if s.lock, err = lockDir(abs); err != nil {
		return nil, fmt.Errorf("open store: lock data directory: %w", err)
	}
	if err := s.open(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store %s: %w", s.path, err)
	}
	// Make the new file's directory entry durable too.
	if err := syncDir(abs); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store: sync data directory: %w", err)
	}
	go s.writer()
	return s, nil
}

func (s *Store) open(ctx context.Context) error {
	var err error
	// auto_vacuum first: on a new file it must come before anything is
	// written, WAL's header included (see PruneOld's vacuum); on an
	// existing file it changes nothing.
	s.wdb, err = sql.Open("sqlite", dsn(s.path,
		"auto_vacuum(INCREMENTAL)", "journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"))
	if err != nil {
		return fmt.Errorf("open writer: %w", err)
	}
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxLifetime(0)
	s.wdb.SetConnMaxIdleTime(0)
	s.wconn, err = s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect writer: %w", err)
	}
	var mode string
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	if err := migrate(ctx, s.wconn); err != nil {
		return err
	}

	s.rdb, err = sql.Open("sqlite", dsn(s.path, "busy_timeout(10000)", "query_only(1)"))
	if err != nil {
		return fmt.Errorf("open readers: %w", err)
	}
	s.rdb.SetMaxOpenConns(s.opt.Readers)
	s.rdb.SetMaxIdleConns(s.opt.Readers)

	// The in-memory counters start from what is on disk.
	var cursor, backlog, events int64
	err = s.wconn.QueryRowContext(ctx, `SELECT position FROM cursors WHERE name = ?`, dispatchCursor).Scan(&cursor)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	err = s.wconn.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM events WHERE id > ?`, cursor).Scan(&backlog)
	if err != nil {
		return fmt.Errorf("measure backlog: %w", err)
	}
	if err := s.wconn.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&events); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	s.backlog.Store(backlog)
	s.events.Store(events)
	return nil
}

// dsn builds a modernc.org/sqlite URI for path with the given PRAGMAs.
func dsn(path string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	if u.Path != "" && u.Path[0] != '/' { // Windows: C:/x -> /C:/x
		u.Path = "/" + u.Path
	}
	return u.String()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, os.ErrInvalid) { // directories cannot be synced on some systems
		return nil
	}
	return err
}

// Close waits for every queued write to finish, stops the writer and closes
// the database. Later calls return ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		close(s.side)
		s.mu.Unlock()
		<-s.writerDone
		if err := s.closeDBs(); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return s.closeErr
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if s.rdb != nil {
		errs = append(errs, s.rdb.Close())
	}
	if s.lock != nil { // after the database, so no one else writes before
		errs = append(errs, s.lock.Close())
	}
	for i, err := range errs {
		if errors.Is(err, sql.ErrConnDone) {
			errs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// Err returns nil while the store is healthy, and an error wrapping ErrFailed
// (and the cause) once a commit has failed.
func (s *Store) Err() error {
	if p := s.failErr.Load(); p != nil {
		return *p
	}
	return nil
}

// fail makes the store permanently failed with cause, logging it once.
func (s *Store) fail(cause error) error {
	s.failOnce.Do(func() {
		err := fmt.Errorf("%w: %w", ErrFailed, cause)
		s.failErr.Store(&err)
		s.opt.Logger.Error("store failed; every later write will fail", "path", s.path, "err", cause)
	})
	return s.Err()
}

// Stats is a snapshot for metrics.
type Stats struct {
	// Events is the number of stored events, copies of duplicates included.
	Events int64
	// Cursor is the id of the last event the dispatcher committed.
	Cursor int64
	// BacklogBytes is the body bytes of events after the cursor (plus Appends
	// in flight), the figure Options.MaxBytes limits.
	BacklogBytes int64
	// Pending is the delivery queue depth: jobs waiting to be sent or retried.
	Pending int64
	// Dead is the number of dead-lettered jobs.
	Dead int64
	// Quarantined is the number of quarantined bodies.
	Quarantined int64
	// Commits is the number of write transactions committed since Open; with
	// group commit it grows much more slowly than the number of writes.
	Commits int64
	// Durable counts the commits made with synchronous=FULL (fsynced):
	// those holding an Append or a Quarantine.
	Durable int64
	// Throttled counts the matches whose actions a throttle dropped since
	// Open.
	Throttled int64
	// Failed reports whether the store has failed (see ErrFailed).
	Failed bool
	// DiskFull reports that writes are failing for lack of disk space
	// (see Full).
	DiskFull bool
}

// Stats returns counters for metrics: Events, BacklogBytes and Commits from
// memory, the rest read from one snapshot of the file.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{
		Events:       s.events.Load(),
		BacklogBytes: s.backlog.Load(),
		Commits:      s.commits.Load(),
		Durable:      s.durable.Load(),
		Throttled:    s.throttled.Load(),
		Failed:       s.Err() != nil,
		DiskFull:     s.Full(),
	}
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT position FROM cursors WHERE name = ?),
		(SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'retry')),
		(SELECT COUNT(*) FROM jobs WHERE state = 'dead'),
		(SELECT COUNT(*) FROM quarantine)`, dispatchCursor).
		Scan(&st.Cursor, &st.Pending, &st.Dead, &st.Quarantined)
	if err != nil {
		return st, fmt.Errorf("read stats: %w", err)
	}
	return st, nil
}

// Full reports whether a write failed for lack of disk space in the last
// fullHold and no Append has fit since: the service should say it is not
// ready. It clears by itself as soon as an event fits again, or fullHold
// after the last failure (so that a service taken out of rotation for it
// is tried again).
func (s *Store) Full() bool {
	at := s.fullAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < fullHold
}

// fullHold is how long a failure for lack of space makes Full report true.
const fullHold = 10 * time.Second

// setFull records a write that failed for lack of disk space.
func (s *Store) setFull() { s.fullAt.Store(time.Now().UnixNano()) }

// isFull reports whether err is SQLite's "database or disk is full".
func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// isIOClass reports whether err is an SQLite error after which the
// connection's view of the file cannot be trusted.
func isIOClass(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// ms converts t to the stored form: UTC unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// fromMS converts a stored time back; 0 stays the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
