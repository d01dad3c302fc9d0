package delivery_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestDeliver_RateLimitSpacesSendsAndSpendsNoAttempt: a destination with
// a rate limit gets its sends spaced by it; waiting for the limiter, even
// past what a worker holds a job for (the job is then snoozed), is never
// an attempt.
func TestDeliver_RateLimitSpacesSendsAndSpendsNoAttempt(t *testing.T) {
	for _, n := range []int{4, 30} { // 30 at 1/s: most wait longer than a worker holds a job
		synctest.Test(t, func(t *testing.T) {
			s := openStore(t)
			dests := make([]string, n)
			for i := range dests {
				dests[i] = "slack"
			}
			enqueue(t, s, dests...)
			rec := &recorder{}
			lim := rate.NewLimiter(1, 1)
			d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet,
				Limiter: func(dest string) *rate.Limiter {
					if dest == "slack" {
						return lim
					}
					return nil
				}})
			start(t, d)
			time.Sleep(time.Duration(n+15) * time.Second)
			synctest.Wait()

			calls := rec.Calls()
			require.Len(t, calls, n, "every job delivered")
			for i := 1; i < len(calls); i++ {
				require.GreaterOrEqual(t, calls[i].at.Sub(calls[i-1].at), 999*time.Millisecond, "send %d came too soon", i)
			}
			for _, j := range jobs(t, s) {
				require.Equal(t, store.StateDone, j.State)
				require.Equal(t, 1, j.Attempts, "waiting for the limit is no attempt")
			}
		})
	}
}
