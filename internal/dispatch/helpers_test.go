package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/store"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dir, store.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// failKind is an action kind whose renderer always fails, with its
// destination's `msg` in the error.
type failKind struct{}

type failConfig struct {
	Msg string `yaml:"msg"`
}

func (failKind) ParseDestination(b *actions.Block) (any, error) {
	var c failConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	return c, nil
}

func (failKind) Compile(b *actions.Block) (actions.Renderer, error) {
	var c struct {
		Destination string `yaml:"destination"`
	}
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	msg := b.Dest.(failConfig).Msg
	return actions.RendererFunc(func(actions.Env) (actions.Request, error) {
		return actions.Request{}, errors.New("rendering failed: " + msg)
	}), nil
}

// rules loads one rules file with the built-in kinds plus `fail`; ${SECRET}
// is "s3cret".
func rules(t *testing.T, yaml string) *engine.RuleSet {
	t.Helper()
	kinds := builtin.Kinds()
	kinds["fail"] = failKind{}
	rs, err := engine.Load(engine.Options{
		Kinds: kinds,
		LookupEnv: func(name string) (string, bool) {
			if name == "SECRET" {
				return "s3cret", true
			}
			return "", false
		},
	}, engine.Source{Name: "r.yaml", Data: []byte(yaml)})
	require.NoError(t, err)
	return rs
}

// payload is a Cooby payload of a received chat message.
func payload(id, text string) []byte {
	return fmt.Appendf(nil, `{"chat_id":"15551234567@c.us","chat_type":"individual","direction":"received",
		"message":{"id":%q,"type":"chat","text":%q},"timestamp":"1700000000",
		"sender":{"phone":"15551234567","wa_name":"Ann"}}`, id, text)
}

// appendEvent stores body with the given dedupe key and returns its row id.
func appendEvent(t *testing.T, s *store.Store, body []byte, key string) int64 {
	t.Helper()
	a, err := s.Append(t.Context(), store.NewEvent{Body: body, DedupeKey: key})
	require.NoError(t, err)
	return a.Row
}

// jobs lists every job, oldest first.
func jobs(t *testing.T, s *store.Store) []store.Delivery {
	t.Helper()
	ds, err := s.ListDeliveries(t.Context(), store.Filter{Limit: 1000})
	require.NoError(t, err)
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

func cursor(t *testing.T, s *store.Store) int64 {
	t.Helper()
	c, err := s.Cursor(t.Context())
	require.NoError(t, err)
	return c
}

// faultyLog wraps a store and fails chosen calls.
type faultyLog struct {
	*store.Store
	mu sync.Mutex
	// readFails is how many ReadEvents calls fail before they work.
	readFails int
	// commit, if set, replaces Commit; it may call the store's.
	commit func(ctx context.Context, b store.Batch) error
}

func (f *faultyLog) ReadEvents(ctx context.Context, after int64, max int) ([]store.Event, error) {
	f.mu.Lock()
	fail := f.readFails > 0
	if fail {
		f.readFails--
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("disk I/O error")
	}
	return f.Store.ReadEvents(ctx, after, max)
}

func (f *faultyLog) Commit(ctx context.Context, b store.Batch) error {
	if f.commit != nil {
		return f.commit(ctx, b)
	}
	return f.Store.Commit(ctx, b)
}
