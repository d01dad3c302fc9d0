// Package app assembles the live service: the ingest endpoint, the durable
// store, the evaluation and delivery workers, the admin API and metrics. It
// is the whole of `switchboard serve`, and tests run it in-process.
package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the service's configuration. Zero values are replaced by the
// defaults documented on each field.
type Config struct {
	// Rules are the rules files or directories to load (required).
	Rules []string
	// Addr is the listen address; default 127.0.0.1:8080.
	Addr string
	// AdminAddr, if set, is a second, private listen address that alone
	// serves /api/, /-/reload, /status and /metrics; the public one (Addr)
	// then serves only the hooks, /healthz and /readyz. Empty: Addr
	// serves everything.
	AdminAddr string
	// ConsoleHosts are the host names (without port) the web console
	// answers to besides IP addresses, localhost and the host names of
	// Addr and AdminAddr: the names operators open it by. A request naming
	// another host is refused (DNS rebinding).
	ConsoleHosts []string
	// Data is the data directory (the SQLite store and generated tokens);
	// default ./data.
	Data string
	// Store, if set, is the PostgreSQL database to use instead of SQLite
	// in Data (a postgres:// URL): several instances may share it (see
	// README, "Running several instances").
	Store string
	// Instance names this instance in a shared store; default the host
	// name. Each instance needs its own, stable across restarts.
	Instance string
	// LeaseTTL is how long the evaluation lease lasts without a heartbeat
	// (a shared store): how soon another instance takes evaluation over
	// from one that died. Default 10s.
	LeaseTTL time.Duration
	// Tokens are the accepted ingest tokens. Empty: a token is generated
	// once and kept in DATA/ingest-token.
	Tokens []string
	// AdminToken guards /api/ and /-/reload. Empty: generated once and kept
	// in DATA/admin-token.
	AdminToken string
	// AllowOrigin is the CORS Access-Control-Allow-Origin; default "*".
	AllowOrigin string
	// MaxBodyBytes limits one webhook body; default 1 MiB.
	MaxBodyBytes int64
	// DiskBudget bounds the bytes of accepted events not yet evaluated;
	// past it ingest answers 503. Default 1 GiB; negative: unlimited.
	DiskBudget int64
	// DedupeWindow is how long a message's dedupe key is kept (a repeat
	// within it is recognised); default 14 days, never under 7.
	DedupeWindow time.Duration
	// Retention is how long events, finished deliveries with their
	// attempts, quarantined bodies and schedule runs are kept; older ones
	// are deleted hourly unless something pending still needs them.
	// Default 720h (30 days); negative: keep everything. A window shorter
	// than DedupeWindow is raised to it (with a warning): an event outlives
	// the dedupe key that recognises its repeats.
	Retention time.Duration
	// CommitBatch is the most writes grouped into one fsynced commit;
	// default 256.
	CommitBatch int
	// Workers is the number of concurrent deliveries; default 8.
	Workers int
	// PerDestination bounds concurrent deliveries to one destination;
	// default 4.
	PerDestination int
	// RetrySchedule is the delay before each retry of a failed delivery
	// (a destination's `retry:` overrides it); default
	// actions.DefaultSchedule, about three days.
	RetrySchedule []time.Duration
	// MaxAttempts, if positive, caps the attempts of a delivery below what
	// the schedule allows; MaxAge (default 72h) bounds how long after it
	// was enqueued a failing delivery is still tried. Past either it is a
	// dead letter.
	MaxAttempts int
	MaxAge      time.Duration
	// SendTimeout bounds one delivery attempt when the action sets none;
	// default 30s.
	SendTimeout time.Duration
	// ShutdownTimeout bounds a graceful stop; default 20s.
	ShutdownTimeout time.Duration
	// ReloadDebounce is how long the rules files must stay quiet after a
	// file-system event before they are read again; default 200ms.
	ReloadDebounce time.Duration
	// ReloadPoll is the interval of the checksum poll that catches changes
	// no event announced (NFS, missed events); default 30s, negative: none.
	ReloadPoll time.Duration
	// NoWatch turns off watching the rules' directories; SIGHUP, POST
	// /-/reload and the poll still reload.
	NoWatch bool
	// AllowFailingTests takes rules whose `tests:` fail. By default such a
	// set is refused like an invalid one: at startup (New fails) and on
	// every reload (the running rules stay).
	AllowFailingTests bool
	// Logger receives the service's logs; nil means slog.Default().
	Logger *slog.Logger
	// LookupEnv resolves ${VAR} in rules; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// EgressAllow are networks actions may connect to although they are
	// private or local (see actions/egress); a destination with
	// allow_private: true may connect to any.
	EgressAllow []netip.Prefix
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.Data == "" {
		c.Data = "./data"
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = "*"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.DiskBudget == 0 {
		c.DiskBudget = 1 << 30
	}
	if c.DiskBudget < 0 {
		c.DiskBudget = 0 // the store's "unlimited"
	}
	if c.DedupeWindow <= 0 {
		c.DedupeWindow = 14 * 24 * time.Hour
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.CommitBatch <= 0 {
		c.CommitBatch = 256
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.PerDestination <= 0 {
		c.PerDestination = 4
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 72 * time.Hour
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 20 * time.Second
	}
	if c.ReloadDebounce <= 0 {
		c.ReloadDebounce = 200 * time.Millisecond
	}
	if c.ReloadPoll == 0 {
		c.ReloadPoll = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.LookupEnv == nil {
		c.LookupEnv = os.LookupEnv
	}
	return c
}

// loadOrCreateToken returns the token kept in DATA/name, creating a random
// one (readable by the owner only) the first time.
func loadOrCreateToken(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	data, err := os.ReadFile(path)
	if err == nil {
		if tok := strings.TrimSpace(string(data)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", name, err)
	}
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	return tok, nil
}

// NewToken returns 32 random hex characters (128 bits).
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ReadAdminToken reads the admin token a server keeps in its data
// directory, for the CLI's client commands.
func ReadAdminToken(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
	if err != nil {
		return "", fmt.Errorf("reading admin token: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
