package delivery_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

var quiet = slog.New(slog.DiscardHandler)

// openStore opens a store in a temporary directory, closed at cleanup.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), t.TempDir(), store.Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// enqueue stores one event per destination and commits one http job for
// each, due now, as the dispatcher would. It returns the jobs' idempotency
// keys in order.
func enqueue(t *testing.T, s *store.Store, dests ...string) []string {
	t.Helper()
	ctx := t.Context()
	var (
		b    = store.Batch{Version: "v1"}
		keys []string
	)
	for i, dest := range dests {
		ev, err := s.Append(ctx, store.NewEvent{Body: fmt.Appendf(nil, `{"n":%d}`, i)})
		require.NoError(t, err)
		req := actions.Request{Kind: "http", Destination: dest, Body: fmt.Appendf(nil, `{"n":%d}`, i)}
		data, err := delivery.EncodeRequest(req)
		require.NoError(t, err)
		key := fmt.Sprintf("%d:r:0", ev.ID)
		b.Matches = append(b.Matches, store.Match{EventID: ev.ID, Rule: "r"})
		b.Jobs = append(b.Jobs, store.NewJob{EventID: ev.ID, Rule: "r", Kind: "http", Destination: dest, Request: data, IdempotencyKey: key})
		keys = append(keys, key)
		b.Cursor = ev.ID
	}
	require.NoError(t, s.Commit(ctx, b))
	return keys
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

// start runs d until the returned stop is called; stop waits for Run.
func start(t *testing.T, d *delivery.Deliverer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// senders resolves every kind and destination to s.
func senders(s actions.Sender) func(kind, dest string) (actions.Sender, error) {
	return func(string, string) (actions.Sender, error) { return s, nil }
}

// call is one Send as the recording sender saw it.
type call struct {
	at  time.Time
	req actions.Request
}

// recorder is a scripted sender: fail decides each call's error from the
// calls so far (that one included).
type recorder struct {
	mu    sync.Mutex
	calls []call
	fail  func(n int, c call) error
}

func (r *recorder) Send(_ context.Context, req actions.Request) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := call{at: time.Now(), req: req}
	r.calls = append(r.calls, c)
	if r.fail == nil {
		return nil
	}
	return r.fail(len(r.calls), c)
}

func (r *recorder) Calls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// maxJitter is a rand source that makes every full-jitter draw its
// ceiling, so backoff delays are exactly Backoff.Ceiling.
type maxJitter struct{}

func (maxJitter) Uint64() uint64 { return ^uint64(0) }

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
