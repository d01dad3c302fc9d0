package delivery_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// gatedOutbox holds back the recording of the first job parked for a
// paused destination until gate is closed: its outcome lands after the
// destination recovered and its waiting jobs were released.
type gatedOutbox struct {
	*store.Store
	gate chan struct{}
	once sync.Once
}

func (g *gatedOutbox) FinishMany(ctx context.Context, items []store.Finished) ([]error, error) {
	for _, it := range items {
		if it.Result.Snooze && strings.Contains(it.Result.Error, "is paused") {
			g.once.Do(func() { <-g.gate })
		}
	}
	return g.Store.FinishMany(ctx, items)
}

// TestDeliver_JobParkedDuringTheRecoveryIsReleased: a job parked for a
// paused destination whose outcome is recorded after the destination
// recovered (and its waiting jobs were released) is released as well,
// instead of waiting out its parking time.
func TestDeliver_JobParkedDuringTheRecoveryIsReleased(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		out := &gatedOutbox{Store: s, gate: make(chan struct{})}
		back := time.Now().Add(3 * time.Second)
		var (
			mu sync.Mutex
			ok = map[string]time.Time{}
		)
		sender := actions.SenderFunc(func(_ context.Context, r actions.Request) error {
			if time.Now().Before(back) {
				return &actions.StatusError{Code: 503}
			}
			mu.Lock()
			defer mu.Unlock()
			ok[r.Key] = time.Now()
			return nil
		})
		enqueue(t, s, "crm", "crm", "crm") // three failures: paused
		d := delivery.New(delivery.Options{Outbox: out, Senders: senders(sender), Logger: quiet, Rand: seeded()})
		start(t, d)
		synctest.Wait()
		require.Len(t, d.Health(), 1)
		require.True(t, d.Health()[0].Paused)

		parked := enqueue(t, s, "crm")[0] // parked; its outcome held back
		d.Wake()
		synctest.Wait()
		time.Sleep(7 * time.Second) // the probe succeeds at the first retry (5 s); the recording waits less than its 10 s bound
		synctest.Wait()
		mu.Lock()
		require.Len(t, ok, 3, "the destination recovered")
		mu.Unlock()
		require.Empty(t, d.Health())

		close(out.gate) // the parked job's outcome lands after the release
		time.Sleep(30 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		_, delivered := ok[parked]
		require.True(t, delivered, "the job parked during the recovery is delivered at once, not after its %s of parking", 5*time.Minute)
	})
}
