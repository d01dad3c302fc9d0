package console

import (
	"context"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Backend is the running service as the console uses it; internal/app
// implements it with the functions its admin API calls, so that a page and
// the API answer every question the same way.
type Backend interface {
	// Rules is the running rule set.
	Rules() *engine.RuleSet
	// RulesStatus is the running rules and the last (re)load (GET /status).
	RulesStatus() RulesStatus
	// Reload reloads the rules now (POST /-/reload).
	Reload(ctx context.Context) (RulesStatus, error)
	// Stats are the store's counters (GET /status).
	Stats(ctx context.Context) (store.Stats, error)
	// Health is every destination's delivery health.
	Health() []delivery.Health
	// Deliveries lists deliveries, secrets redacted (GET /api/deliveries).
	Deliveries(ctx context.Context, f store.Filter) ([]store.Delivery, error)
	// Replay requeues one delivery (POST /api/deliveries/{id}/replay).
	Replay(ctx context.Context, id int64) error
	// ReplayDead requeues the dead letters f selects (POST /api/replay).
	ReplayDead(ctx context.Context, f store.Filter) (int, error)
	// DryRun evaluates a payload with the running rules, or with files
	// when given (POST /api/dryrun). Nothing is stored or sent.
	DryRun(raw []byte, files []RulesFile, opts dryrun.Options) (*dryrun.Report, error)
	// Diff replays the events of the last period through the running
	// rules and files (POST /api/diff).
	Diff(ctx context.Context, files []RulesFile, since time.Duration) (*DiffResult, error)
	// SendTest sends the notify-test message through a destination.
	SendTest(ctx context.Context, destination string) (SendTestResult, error)
}

// Store is the store's reads the console makes beside the Backend's.
type Store interface {
	ListEvents(ctx context.Context, f store.EventFilter) (store.EventPage, error)
	Event(ctx context.Context, id int64) (store.Event, error)
	EventMatches(ctx context.Context, id int64) ([]store.EventMatch, error)
	Attempts(ctx context.Context, jobID int64) ([]store.Attempt, error)
	PendingChecks(ctx context.Context, eventID int64, max int) ([]store.Check, error)
	ChatsAwaiting(ctx context.Context, max int) ([]store.Awaiting, error)
	Chats(ctx context.Context, ids []string) (map[string]store.Chat, error)
	ReadSeries(ctx context.Context, start time.Time, step time.Duration, n int, rules []string, matchesFrom time.Time) (store.Series, error)
	RecentOutcomes(ctx context.Context, since time.Time) (map[string]*store.DestinationOutcomes, error)
	CountDeliveries(ctx context.Context, f store.Filter) (int64, error)
	FirstJobAt(ctx context.Context, t time.Time) (int64, error)
}

// RulesStatus describes the running rules and the last (re)load.
type RulesStatus struct {
	OK       bool
	At       time.Time
	Cause    string
	Duration time.Duration
	// Errors are the last load's problems, each file:line:col: message.
	Errors       []string
	Version      string
	Files        []string
	Rules        int
	Destinations int
	Tests        int
	LastGood     time.Time
	Reloads      int64
	Failures     int64
}

// RulesFile is one pasted or uploaded rules file.
type RulesFile struct {
	Name    string
	Content string
}

// DiffResult is what new rules would do differently with the stored
// events of a period.
type DiffResult struct {
	// LoadErrors are the new rules' problems (file:line:col); nothing
	// else is set then.
	LoadErrors   []string
	Running, New string
	Since        time.Time
	Events       int
	Changed      int
	Truncated    bool
	TestFailures []string
	Diffs        []EventDiff
}

// EventDiff is one event whose actions would change.
type EventDiff struct {
	EventID int64
	Summary string
	// Lines describe each added (+), removed (-) or changed (~) action.
	Lines []string
}

// SendTestResult is the outcome of a send test.
type SendTestResult struct {
	// Preview is the request as sent, secrets as ***.
	Preview string
	OK      bool
	Message string
}
