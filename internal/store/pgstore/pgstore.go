// Package pgstore is Switchboard's shared store on PostgreSQL (pgx v5 and
// its pool): the same rows as the embedded SQLite store (package store),
// written so that several instances can use one database at once.
//
//   - Every instance accepts: Append commits (synchronous_commit on) before
//     it returns, grouping concurrent Appends into one transaction sent as
//     one pgx.Batch; dedupe keys are a unique key inserted with ON
//     CONFLICT, so a message posted to two instances at once is stored
//     once as an original and once as a copy.
//   - Sequence ids are not commit-ordered across instances (an id can
//     become visible after a higher one was read), so evaluation does not
//     read after a cursor: it reads the events not yet marked evaluated
//     (Unevaluated), and Commit marks the batch's events, refusing a batch
//     if any of them already was.
//   - One instance evaluates at a time: it holds the evaluation lease
//     (TryLease, RenewLease), whose epoch fences every Commit in the same
//     transaction, so an instance that lost the lease cannot commit.
//   - Deliveries are claimed with FOR UPDATE SKIP LOCKED and a lease time
//     by any instance.
package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// Options tunes a Store. The zero value is ready to use.
type Options struct {
	// Instance names this instance in the database: its delivery leases,
	// its evaluation lease, its line in Instances. Give each instance its
	// own stable name (a restarted instance releases the delivery leases
	// of its previous run at once). Empty means the host name.
	Instance string
	// MaxBatch is the most Appends committed in one transaction; 0 means 256.
	MaxBatch int
	// MaxConns is the size of the connection pool; 0 means 16.
	MaxConns int
	// MaxBytes is the disk budget: the most body bytes of events not yet
	// evaluated (all instances together, as last measured, plus this
	// instance's Appends since). Zero means unlimited.
	MaxBytes int64
	// QuarantineMax is the most quarantined bodies kept; 0 means 1000.
	QuarantineMax int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// OnCommit, if set, is called after every group commit of Appends.
	OnCommit func(store.CommitInfo)
}

func (o Options) withDefaults() Options {
	if o.Instance == "" {
		o.Instance, _ = os.Hostname()
		if o.Instance == "" {
			o.Instance = "switchboard"
		}
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.QuarantineMax <= 0 {
		o.QuarantineMax = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the PostgreSQL store. It is safe for concurrent use, by any
// number of instances on the same database.
type Store struct {
	opt  Options
	pool *pgxpool.Pool

	appends chan *appendReq
	stop    chan struct{}
	done    chan struct{}

	mu     sync.RWMutex // guards closed against sends on appends
	closed bool

	closeOnce sync.Once

	// lease is the evaluation lease this instance holds (nil: none); its
	// epoch fences Commit.
	lease atomic.Pointer[Lease]

	backlog   atomic.Int64 // unevaluated body bytes as last measured
	reserved  atomic.Int64 // bytes appended since that measure
	measured  atomic.Int64 // unix ns of the last measure
	commits   atomic.Int64
	throttled atomic.Int64
}

// Open connects to the database at url (a postgres:// URL or key=value
// string), applies the schema migrations under an advisory lock and starts
// the group-commit writer. It refuses a database whose schema is newer than
// this program knows.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	opt = opt.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: the PostgreSQL address is not valid: %w", err)
	}
	cfg.MaxConns = int32(opt.MaxConns)
	// An acknowledged event must be on disk: whatever the server's default.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.ConnConfig.RuntimeParams["application_name"] = "switchboard " + opt.Instance
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: connecting to PostgreSQL at %s: %w", redactURL(url), err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := &Store{
		opt:     opt,
		pool:    pool,
		appends: make(chan *appendReq, 4*opt.MaxBatch),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := s.measureBacklog(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	go s.writer()
	return s, nil
}

// Pool is the connection pool (for tests and the migrate command).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Instance is this instance's name.
func (s *Store) Instance() string { return s.opt.Instance }

// Close waits for the queued Appends, stops the writer and closes the pool.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.appends)
		s.mu.Unlock()
		<-s.done
		s.pool.Close()
	})
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Err is always nil: a failed transaction on PostgreSQL fails only its own
// requests (the server keeps the database consistent).
func (s *Store) Err() error { return nil }

// Full reports whether the unevaluated backlog exceeds the disk budget.
func (s *Store) Full() bool {
	return s.opt.MaxBytes > 0 && s.backlog.Load()+s.reserved.Load() > s.opt.MaxBytes
}

// measureBacklog reads the body bytes of the events not yet evaluated.
func (s *Store) measureBacklog(ctx context.Context) error {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(size), 0) FROM events WHERE NOT evaluated`).Scan(&n); err != nil {
		return fmt.Errorf("measure backlog: %w", err)
	}
	s.backlog.Store(n)
	s.reserved.Store(0)
	s.measured.Store(time.Now().UnixNano())
	return nil
}

// Stats returns counters for metrics and /status.
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{Commits: s.commits.Load(), Durable: s.commits.Load(), Throttled: s.throttled.Load(), DiskFull: s.Full()}
	// Counting every event reads the whole table; past a million rows
	// the planner's estimate (kept by autovacuum) is close enough.
	err := s.pool.QueryRow(ctx, `SELECT
		(SELECT CASE WHEN c.reltuples > 1e6 THEN c.reltuples::bigint ELSE (SELECT COUNT(*) FROM events) END
			FROM pg_class c WHERE c.oid = 'events'::regclass),
		(SELECT position FROM cursors WHERE name = 'dispatch'),
		(SELECT COALESCE(SUM(size), 0) FROM events WHERE NOT evaluated),
		(SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'retry')),
		(SELECT COUNT(*) FROM jobs WHERE state = 'dead'),
		(SELECT COUNT(*) FROM quarantine)`).
		Scan(&st.Events, &st.Cursor, &st.BacklogBytes, &st.Pending, &st.Dead, &st.Quarantined)
	if err != nil {
		return st, fmt.Errorf("read stats: %w", err)
	}
	return st, nil
}

// Bytes is the database's size on disk (pg_database_size), 0 if it cannot
// be read within a second.
func (s *Store) Bytes() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// redactURL drops the password from a connection URL for messages.
func redactURL(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparsable address)"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// ms converts t to the stored form: UTC unix milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msOrZero is ms, with the zero time stored as 0.
func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return ms(t)
}

// fromMS converts a stored time back; 0 stays the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

var _ store.Backend = (*Store)(nil)
