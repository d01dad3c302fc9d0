package delivery_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// memHealth keeps shared destination health in memory, with the locking
// of the PostgreSQL store's (whose own test is in pgstore).
type memHealth struct {
	mu sync.Mutex
	m  map[string]store.DestinationHealth
}

func (h *memHealth) UpdateHealth(_ context.Context, dest string, fn func(*store.DestinationHealth)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	v := h.m[dest]
	fn(&v)
	if v.IsZero() {
		delete(h.m, dest)
	} else {
		h.m[dest] = v
	}
	return nil
}

func (h *memHealth) UnhealthyDestinations(context.Context) (map[string]store.DestinationHealth, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]store.DestinationHealth, len(h.m))
	for k, v := range h.m {
		out[k] = v
	}
	return out, nil
}

// TestDeliver_SharedHealth: two instances share the outbox and the
// destinations' health. A destination that is down is paused for both
// (each shows it paused, although one alone may not have seen three
// failures), only the probes of one of them are sent, and after the
// recovery both release and deliver everything without a dead letter.
func TestDeliver_SharedHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		const n = 120
		dests := make([]string, n)
		for i := range dests {
			dests[i] = "crm"
		}
		enqueue(t, s, dests...)
		back := time.Now().Add(10 * time.Minute)
		rec := &recorder{fail: func(_ int, c call) error {
			if c.at.Before(back) {
				return &actions.StatusError{Code: 503, Body: "down"}
			}
			return nil
		}}
		shared := &memHealth{m: map[string]store.DestinationHealth{}}
		a := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded(), SharedHealth: shared})
		b := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded(), SharedHealth: shared})
		start(t, a)
		start(t, b)

		time.Sleep(time.Minute)
		synctest.Wait()
		calls := len(rec.Calls())
		time.Sleep(4 * time.Minute)
		synctest.Wait()
		for _, d := range []*delivery.Deliverer{a, b} {
			h := d.Health()
			require.Len(t, h, 1)
			require.True(t, h[0].Paused, "paused for both instances")
		}
		// Paused, the two instances send only the probes: one per probe
		// interval (growing to 15 s: 16 in four minutes), not one each.
		t.Logf("%d probes in four minutes of outage", len(rec.Calls())-calls)
		require.Positive(t, len(rec.Calls())-calls, "the paused destination is probed")
		require.LessOrEqual(t, len(rec.Calls())-calls, 18, "probes only, from one instance at a time")
		require.Less(t, len(rec.Calls()), 3*n, "waiting deliveries do not hammer the destination")

		time.Sleep(time.Until(back) + 2*time.Minute)
		synctest.Wait()
		done := 0
		for _, j := range jobs(t, s) {
			require.NotEqual(t, store.StateDead, j.State)
			if j.State == store.StateDone {
				done++
			}
		}
		require.Equal(t, n, done, "all delivered after the recovery")
		require.Empty(t, a.Health())
		require.Empty(t, b.Health())
		require.Empty(t, shared.m, "nothing kept of a healthy destination")
	})
}
