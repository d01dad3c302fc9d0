package store

import (
	"context"
	"time"
)

// Backend is everything the service asks of its store. *Store (SQLite, one
// process) implements it, and so does pgstore.Store (PostgreSQL, shared by
// several instances); the contract suite in internal/store/storetest runs
// against both. The consumers keep taking their own small interfaces
// (ingest.Store, dispatch.Log, delivery.Outbox); Backend is what
// internal/app holds.
type Backend interface {
	Append(ctx context.Context, in NewEvent) (Appended, error)
	Quarantine(ctx context.Context, raw []byte, reason string) (int64, error)
	ListQuarantine(ctx context.Context, limit int) ([]Quarantined, error)
	GetQuarantine(ctx context.Context, id int64) (Quarantined, error)
	DeleteQuarantine(ctx context.Context, id int64) error

	Event(ctx context.Context, id int64) (Event, error)
	ReadEvents(ctx context.Context, after int64, max int) ([]Event, error)
	EventsReceived(ctx context.Context, since, until time.Time, max int) ([]Event, error)
	Commit(ctx context.Context, b Batch) error
	Cursor(ctx context.Context) (int64, error)

	LoadState(ctx context.Context) (*Loaded, error)
	Chats(ctx context.Context, ids []string) (map[string]Chat, error)
	AllChats(ctx context.Context, max int) (map[string]Chat, error)
	DueTimers(ctx context.Context, now time.Time, max int) ([]Timer, error)
	NextTimer(ctx context.Context) (time.Time, error)

	Claim(ctx context.Context, now time.Time, max int, lease time.Duration) ([]Job, error)
	FinishMany(ctx context.Context, items []Finished) (errs []error, err error)
	ListDeliveries(ctx context.Context, f Filter) ([]Delivery, error)
	Requeue(ctx context.Context, id int64) error
	RequeueDead(ctx context.Context, f Filter) (int, error)
	ReleaseDestination(ctx context.Context, destination string, now time.Time) (int, error)
	ReleaseLeases(ctx context.Context) (int, error)

	Prune(ctx context.Context, before time.Time) (int64, error)
	PruneOld(ctx context.Context, before time.Time, batch int) (Pruned, error)

	Stats(ctx context.Context) (Stats, error)
	// Bytes is the store's size on disk.
	Bytes() int64
	Err() error
	Full() bool
	Close() error
}

var _ Backend = (*Store)(nil)
