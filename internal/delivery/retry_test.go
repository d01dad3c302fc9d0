package delivery_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestDeliver_RetriedOnTheSchedule: each retry comes after its delay in
// the schedule, within the jitter (a fifth either way), with the same
// idempotency key.
func TestDeliver_RetriedOnTheSchedule(t *testing.T) {
	for _, r := range map[string]*rand.Rand{"max": rand.New(maxJitter{}), "seeded": seeded()} {
		synctest.Test(t, func(t *testing.T) {
			s := openStore(t)
			enqueue(t, s, "crm")
			rec := &recorder{fail: func(n int, _ call) error {
				if n <= 2 { // fewer failures in a row than pause a destination
					return &actions.StatusError{Code: 500, Body: "oops"}
				}
				return nil
			}}
			poll := time.Second
			schedule := []time.Duration{10 * time.Second, time.Minute, time.Hour}
			d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: r, Poll: poll, Schedule: schedule})
			start(t, d)

			time.Sleep(10 * time.Minute)
			synctest.Wait()
			calls := rec.Calls()
			require.Len(t, calls, 3, "two failures, then success")
			for i := 1; i < len(calls); i++ {
				gap, want := calls[i].at.Sub(calls[i-1].at), schedule[i-1]
				require.GreaterOrEqual(t, gap, want-want/5, "retry %d came before its delay", i)
				require.LessOrEqual(t, gap, want+want/5+poll, "retry %d came late", i)
				require.Equal(t, calls[0].req.Key, calls[i].req.Key, "same idempotency key on every attempt")
			}
			j := jobs(t, s)[0]
			require.Equal(t, store.StateDone, j.State)
			require.Equal(t, 3, j.Attempts)
		})
	}
}

// TestDeliver_ScheduleSpentMakesItDead: a job whose retries are spent is a
// dead letter, saying how many attempts it had.
func TestDeliver_ScheduleSpentMakesItDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		rec := &recorder{fail: func(int, call) error { return errors.New("connection refused") }}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded(),
			Schedule: []time.Duration{time.Second, 2 * time.Second}})
		start(t, d)
		time.Sleep(time.Hour)
		synctest.Wait()

		require.Len(t, rec.Calls(), 3)
		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.Equal(t, "gave up after 3 attempts: connection refused", j.LastError)
	})
}

// TestDeliver_DestinationRetryPolicy: a destination's own retry: replaces
// the service's schedule and maximum age for its jobs only; a retry due
// after the maximum age is made at that age, once.
func TestDeliver_DestinationRetryPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "fast", "slow")
		t0 := time.Now()
		fails := &recorder{fail: func(n int, c call) error {
			if c.req.Destination == "slow" && n > 4 {
				return nil
			}
			return errors.New("connection refused")
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(fails), Logger: quiet, Rand: seeded(),
			Schedule: []time.Duration{time.Minute, time.Minute, time.Minute},
			Retry: func(dest string) actions.Retry {
				if dest == "fast" {
					return actions.Retry{Schedule: []time.Duration{time.Second, time.Hour}, MaxAge: 30 * time.Second}
				}
				return actions.Retry{}
			}})
		start(t, d)
		time.Sleep(time.Hour)
		synctest.Wait()

		var fast, slow []time.Duration
		for _, c := range fails.Calls() {
			if c.req.Destination == "fast" {
				fast = append(fast, c.at.Sub(t0))
			} else {
				slow = append(slow, c.at.Sub(t0))
			}
		}
		// fast: at once, after about 1s, then at its max_age of 30s (its
		// schedule said 1h), and dead.
		require.Len(t, fast, 3)
		require.InDelta(t, time.Second, fast[1]-fast[0], float64(time.Second/5)+float64(time.Second))
		require.Equal(t, 30*time.Second, fast[2])
		// slow: the service's schedule, a minute apart.
		require.GreaterOrEqual(t, len(slow), 2)
		require.GreaterOrEqual(t, slow[1]-slow[0], 48*time.Second)

		for _, j := range jobs(t, s) {
			if j.Destination == "fast" {
				require.Equal(t, store.StateDead, j.State)
				require.Equal(t, "gave up 30s after the job was enqueued: connection refused", j.LastError)
			}
		}
	})
}

// TestDefaultScheduleSpansAboutThreeDays: the default schedule's retries
// reach past two and a half days and end before the default --max-age.
func TestDefaultScheduleSpansAboutThreeDays(t *testing.T) {
	var total time.Duration
	for _, d := range actions.DefaultSchedule {
		total += d
	}
	require.Greater(t, total, 60*time.Hour)
	require.Less(t, total+total/5, 84*time.Hour)
	require.Equal(t, 5*time.Second, actions.DefaultSchedule[0], "the first retry comes soon")
}
