package delivery_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestDeliver_OutageThenRecovery: a destination that answers 503 for ten
// minutes is paused after three failures in a row; the waiting deliveries
// spend no attempts (none becomes a dead letter, although the default
// allows ten attempts); when a probe succeeds they are all released at
// once and delivered within two minutes.
func TestDeliver_OutageThenRecovery(t *testing.T) {
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
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded()})
		start(t, d)

		time.Sleep(5 * time.Minute)
		synctest.Wait()
		h := d.Health()
		require.Len(t, h, 1)
		require.True(t, h[0].Paused, "paused during the outage")
		failedCalls := len(rec.Calls())
		require.Less(t, failedCalls, 3*n, "waiting deliveries do not hammer the destination")

		time.Sleep(time.Until(back) + 2*time.Minute)
		synctest.Wait()
		done := 0
		for _, j := range jobs(t, s) {
			require.NotEqual(t, store.StateDead, j.State, "no dead letter from a ten-minute outage")
			if j.State == store.StateDone {
				done++
			}
		}
		require.Equal(t, n, done, "all delivered within two minutes of the recovery")
		require.Empty(t, d.Health(), "healthy again")
	})
}
