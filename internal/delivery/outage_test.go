package delivery_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestDeliver_TenMinuteOutageUnderLoad is the "Done when" at a
// unit's scale, in virtual time: deliveries keep arriving (20 a second,
// 4 under the race detector)
// to a destination that answers 503 for ten minutes, then recovers. With
// the service's defaults (retry schedule, health, no replay), at least 99%
// of them are delivered within two minutes of the recovery, all within
// ten, each once, and none becomes a dead letter.
func TestDeliver_TenMinuteOutageUnderLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const outage = 10 * time.Minute
		perSecond := 20
		if raceEnabled {
			perSecond = 4
		}
		s := openStore(t)
		t0 := time.Now()
		back := t0.Add(outage)
		var (
			mu        sync.Mutex
			delivered = map[string]time.Time{}
			twice     int
		)
		sender := actions.SenderFunc(func(_ context.Context, r actions.Request) error {
			now := time.Now()
			if now.Before(back) {
				return &actions.StatusError{Code: 503, Body: "down for maintenance"}
			}
			mu.Lock()
			defer mu.Unlock()
			if _, ok := delivered[r.Key]; ok {
				twice++
			}
			delivered[r.Key] = now
			return nil
		})
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(sender), Logger: quiet, Rand: seeded()})
		start(t, d)

		// The outage: one event a second, each with perSecond deliveries.
		total := 0
		for sec := 0; time.Now().Before(back); sec++ {
			enqueueMany(t, s, "crm", perSecond)
			total += perSecond
			d.Wake()
			time.Sleep(time.Second)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		mu.Lock()
		within2 := len(delivered)
		mu.Unlock()
		require.GreaterOrEqual(t, float64(within2), 0.99*float64(total), "at least 99%% delivered within 2 minutes of the recovery (%d of %d)", within2, total)

		time.Sleep(8 * time.Minute)
		synctest.Wait()
		st, err := s.Stats(t.Context())
		require.NoError(t, err)
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, total, len(delivered), "all delivered within 10 minutes of the recovery")
		require.Zero(t, twice, "each delivered once")
		require.Zero(t, st.Dead, "no dead letter")
		require.Zero(t, st.Pending)
		last := time.Time{}
		for _, at := range delivered {
			if at.After(last) {
				last = at
			}
		}
		t.Logf("%d deliveries over a %s outage: %d (%.2f%%) delivered within 2 min of the recovery, the last %s after it",
			total, outage, within2, 100*float64(within2)/float64(total), last.Sub(back))
	})
}

// enqueueMany commits one event with n http jobs to dest, due now.
func enqueueMany(t *testing.T, s *store.Store, dest string, n int) {
	t.Helper()
	ctx := t.Context()
	ev, err := s.Append(ctx, store.NewEvent{Body: []byte(`{"n":1}`)})
	require.NoError(t, err)
	b := store.Batch{Version: "v1", Cursor: ev.ID, Matches: []store.Match{{EventID: ev.ID, Rule: "r"}}}
	for i := range n {
		req := actions.Request{Kind: "http", Destination: dest, Body: fmt.Appendf(nil, `{"n":%d}`, i)}
		data, err := delivery.EncodeRequest(req)
		require.NoError(t, err)
		b.Jobs = append(b.Jobs, store.NewJob{EventID: ev.ID, Rule: "r", Action: i, Kind: "http", Destination: dest, Request: data,
			IdempotencyKey: fmt.Sprintf("%d:r:%d", ev.ID, i)})
	}
	require.NoError(t, s.Commit(ctx, b))
}
