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

// gatedOutbox holds back the recording of the first job parked for long
// for a paused destination until gate is closed: its outcome lands after
// the destination recovered and its waiting jobs were released.
type gatedOutbox struct {
	*store.Store
	gate      chan struct{}
	once      sync.Once
	closeOnce sync.Once
}

func (g *gatedOutbox) FinishMany(ctx context.Context, items []store.Finished) ([]error, error) {
	for _, it := range items {
		r := it.Result
		if r.Snooze && strings.Contains(r.Error, "is paused") && r.RetryAt.Sub(r.At) > time.Minute {
			g.once.Do(func() { <-g.gate })
		}
	}
	return g.Store.FinishMany(ctx, items)
}

func (g *gatedOutbox) open() { g.closeOnce.Do(func() { close(g.gate) }) }

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
		keys := enqueue(t, s, "crm", "crm", "crm") // three failures: paused
		d := delivery.New(delivery.Options{Outbox: out, Senders: senders(sender), Logger: quiet, Rand: seeded()})
		start(t, d)
		t.Cleanup(out.open) // runs before the deliverer is stopped
		synctest.Wait()
		require.Len(t, d.Health(), 1)
		require.True(t, d.Health()[0].Paused)

		// Two more: one waits for the next probe, the other is parked for
		// long, and its outcome is held back.
		keys = append(keys, enqueue(t, s, "crm", "crm")...)
		d.Wake()
		synctest.Wait()
		time.Sleep(7 * time.Second) // the probe succeeds at the first retry (5 s); the recording waits less than its 10 s bound
		synctest.Wait()
		require.Empty(t, d.Health(), "the destination recovered")

		out.open() // the parked job's outcome lands after the release
		time.Sleep(30 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, k := range keys {
			_, delivered := ok[k]
			require.True(t, delivered, "job %s: a job parked during the recovery is delivered at once, not after its parking", k)
		}
	})
}

// TestDeliver_QuietOutageIsProbedOnTime: a destination that gets no new
// deliveries while it is down is still probed at its probe interval (one
// waiting job waits just until each probe, the others are parked longer),
// so its recovery is seen within 15 s, not when the parked jobs come due.
func TestDeliver_QuietOutageIsProbedOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm", "crm", "crm", "crm", "crm", "crm")
		back := time.Now().Add(10 * time.Minute)
		rec := &recorder{fail: func(_ int, c call) error {
			if c.at.Before(back) {
				return &actions.StatusError{Code: 503}
			}
			return nil
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded()})
		start(t, d)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		n := len(rec.Calls())
		time.Sleep(time.Minute)
		synctest.Wait()
		probes := len(rec.Calls()) - n
		require.GreaterOrEqual(t, probes, 3, "probed about every 15 s")
		require.LessOrEqual(t, probes, 6, "only the probes are sent")

		time.Sleep(time.Until(back) + 20*time.Second)
		synctest.Wait()
		for _, j := range jobs(t, s) {
			require.Equal(t, store.StateDone, j.State, "delivered within 20 s of the recovery")
		}
	})
}
