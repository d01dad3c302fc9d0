package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
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

func TestBackoff_Ceiling(t *testing.T) {
	var b delivery.Backoff // defaults: 1s, x2, 1h
	for failures, want := range []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		require.Equal(t, want, b.Ceiling(failures), "after %d failures", failures)
	}
	require.Equal(t, time.Hour, b.Ceiling(12), "capped")
	require.Equal(t, time.Hour, b.Ceiling(10_000), "no overflow")
	require.Equal(t, 300*time.Millisecond, delivery.Backoff{Base: 100 * time.Millisecond, Factor: 3}.Ceiling(1))
}

func TestEncodeRequest_RoundTrip(t *testing.T) {
	in := actions.Request{Kind: "slack", Destination: "sales", Body: []byte(`{"text":"hi"}`), Key: "not stored"}
	data, err := delivery.EncodeRequest(in)
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"slack","destination":"sales","request":{"text":"hi"}}`, string(data))
	out, err := delivery.DecodeRequest(data)
	require.NoError(t, err)
	in.Key = ""
	require.Equal(t, in, out)

	_, err = delivery.DecodeRequest([]byte(`{"kind":`))
	require.Error(t, err)
}

func TestDeliver_SuccessIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		keys := enqueue(t, s, "crm")
		rec := &recorder{}
		var (
			mu       sync.Mutex
			outcomes []string
		)
		d := delivery.New(delivery.Options{
			Outbox: s, Senders: senders(rec), Logger: quiet,
			OnResult: func(kind, dest, outcome string, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				outcomes = append(outcomes, kind+"/"+dest+"/"+outcome)
			},
		})
		start(t, d)
		synctest.Wait()

		calls := rec.Calls()
		require.Len(t, calls, 1)
		require.Equal(t, actions.Request{Kind: "http", Destination: "crm", Body: []byte(`{"n":0}`), Key: keys[0]}, calls[0].req)
		js := jobs(t, s)
		require.Equal(t, store.StateDone, js[0].State)
		mu.Lock()
		require.Equal(t, []string{"http/crm/done"}, outcomes)
		mu.Unlock()
	})
}

func TestDeliver_RetryAfterSnoozesWithoutCountingAnAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		rec := &recorder{fail: func(n int, _ call) error {
			if n == 1 {
				return actions.RetryAfter(30*time.Second, &actions.StatusError{Code: 429})
			}
			return nil
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded()})
		start(t, d)
		synctest.Wait()

		j := jobs(t, s)[0]
		require.Len(t, rec.Calls(), 1)
		require.Equal(t, store.StateRetry, j.State)
		require.Zero(t, j.Attempts, "a snooze is not a failed attempt")
		require.Equal(t, 429, j.LastStatus)
		require.Equal(t, rec.Calls()[0].at.Add(30*time.Second).UTC(), j.NextAttemptAt)

		time.Sleep(29 * time.Second)
		synctest.Wait()
		require.Len(t, rec.Calls(), 1, "not before Retry-After")

		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Len(t, rec.Calls(), 2)
		j = jobs(t, s)[0]
		require.Equal(t, store.StateDone, j.State)
		require.Equal(t, 1, j.Attempts)
	})
}

func TestDeliver_PermanentErrorIsDeadAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		rec := &recorder{fail: func(int, call) error {
			return actions.Permanent(&actions.StatusError{Code: 400, Body: "bad field"})
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet})
		start(t, d)
		time.Sleep(time.Minute)
		synctest.Wait()

		require.Len(t, rec.Calls(), 1)
		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.Equal(t, 400, j.LastStatus)
		require.Contains(t, j.LastError, "bad field")
	})
}

func TestDeliver_MaxAttemptsMakesItDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		rec := &recorder{fail: func(int, call) error { return errors.New("connection refused") }}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded(), MaxAttempts: 3,
			Schedule: []time.Duration{time.Second, time.Second, time.Second, time.Second}})
		start(t, d)
		time.Sleep(time.Minute)
		synctest.Wait()

		require.Len(t, rec.Calls(), 3)
		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.Equal(t, 3, j.Attempts)
		require.Equal(t, "gave up after 3 attempts: connection refused", j.LastError)
	})
}

func TestDeliver_MaxAgeMakesItDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		rec := &recorder{fail: func(int, call) error { return errors.New("connection refused") }}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded(),
			MaxAttempts: 1000, MaxAge: 30 * time.Second})
		start(t, d)
		time.Sleep(2 * time.Minute)
		synctest.Wait()

		calls := rec.Calls()
		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.Contains(t, j.LastError, "gave up 30s after the job was enqueued")
		require.Equal(t, 30*time.Second, calls[len(calls)-1].at.Sub(calls[0].at), "the last attempt at the maximum age")
		require.Less(t, len(calls), 20)
	})
}

func TestDeliver_UnknownDestinationIsDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "gone")
		d := delivery.New(delivery.Options{Outbox: s, Logger: quiet,
			Senders: func(kind, dest string) (actions.Sender, error) {
				return nil, fmt.Errorf("destination %q is not defined", dest)
			}})
		start(t, d)
		synctest.Wait()

		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.Equal(t, `destination "gone" is not defined`, j.LastError)
	})
}

func TestDeliver_DestinationDownThenBackDeliversEachOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		keys := enqueue(t, s, "crm", "crm", "crm", "crm", "crm")
		back := time.Now().Add(2 * time.Minute)
		rec := &recorder{fail: func(_ int, c call) error {
			if c.at.Before(back) {
				return &actions.StatusError{Code: 503}
			}
			return nil
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Rand: seeded()})
		start(t, d)
		time.Sleep(10 * time.Minute)
		synctest.Wait()

		delivered := map[string]int{}
		failed := 0
		for _, c := range rec.Calls() {
			if c.at.Before(back) {
				failed++
				continue
			}
			delivered[c.req.Key]++
		}
		require.Greater(t, failed, len(keys), "each job failed while the destination was down")
		for _, k := range keys {
			require.Equal(t, 1, delivered[k], "job %s delivered exactly once", k)
		}
		require.Len(t, delivered, len(keys))
		for _, j := range jobs(t, s) {
			require.Equal(t, store.StateDone, j.State)
		}
	})
}

func TestDeliver_PerDestinationConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		var dests []string
		for range 12 {
			dests = append(dests, "a", "b", "c")
		}
		keys := enqueue(t, s, dests...)
		var (
			mu           sync.Mutex
			now, peak    = map[string]int{}, map[string]int{}
			total, most  int
			sentPerDests = map[string]int{}
		)
		slow := actions.SenderFunc(func(ctx context.Context, r actions.Request) error {
			mu.Lock()
			now[r.Destination]++
			total++
			peak[r.Destination] = max(peak[r.Destination], now[r.Destination])
			most = max(most, total)
			sentPerDests[r.Key]++
			mu.Unlock()
			time.Sleep(time.Second)
			mu.Lock()
			now[r.Destination]--
			total--
			mu.Unlock()
			return nil
		})
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(slow), Logger: quiet,
			Workers: 5, PerDestination: 2})
		start(t, d)
		time.Sleep(time.Minute)
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, map[string]int{"a": 2, "b": 2, "c": 2}, peak, "at most 2 at once per destination, and the limit is used")
		require.LessOrEqual(t, most, 5, "at most Workers at once")
		for _, k := range keys {
			require.Equal(t, 1, sentPerDests[k])
		}
		for _, j := range jobs(t, s) {
			require.Equal(t, store.StateDone, j.State)
		}
	})
}

func TestDeliver_ShutdownFinishesInFlightAndLeavesTheRestToTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		keys := enqueue(t, s, "crm", "crm")
		rec := &recorder{}
		slow := actions.SenderFunc(func(ctx context.Context, r actions.Request) error {
			time.Sleep(10 * time.Second)
			return rec.Send(ctx, r)
		})
		// One send at a time to crm: the second job waits when shutdown comes.
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(slow), Logger: quiet, PerDestination: 1})
		stop := start(t, d)
		time.Sleep(time.Second)
		synctest.Wait()
		stopped := time.Now()
		stop()
		require.Equal(t, stopped.Add(9*time.Second), time.Now(), "Run waited for the send under way")

		calls := rec.Calls()
		require.Len(t, calls, 1)
		js := map[string]store.Delivery{}
		for _, j := range jobs(t, s) {
			js[j.IdempotencyKey] = j
		}
		sent, waiting := js[calls[0].req.Key], js[otherKey(keys, calls[0].req.Key)]
		require.Equal(t, store.StateDone, sent.State, "the send under way finished and was recorded")
		require.Equal(t, store.StatePending, waiting.State, "the waiting job was not sent")
		require.False(t, waiting.LeaseUntil.IsZero(), "and keeps its lease")

		// A fresh Deliverer (a restart) leaves the leased job alone until the
		// lease lapses, then sends it with the same idempotency key.
		start(t, delivery.New(delivery.Options{Outbox: s, Senders: senders(slow), Logger: quiet}))
		time.Sleep(time.Until(waiting.LeaseUntil) - time.Second)
		synctest.Wait()
		require.Len(t, rec.Calls(), 1, "not while the lease holds")

		time.Sleep(15 * time.Second)
		synctest.Wait()
		calls = rec.Calls()
		require.Len(t, calls, 2)
		require.Equal(t, waiting.IdempotencyKey, calls[1].req.Key)
		for _, j := range jobs(t, s) {
			require.Equal(t, store.StateDone, j.State)
		}
	})
}

func TestDeliver_CrashAfterSendResendsWithTheSameKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		keys := enqueue(t, s, "crm")
		// A worker of a previous process claimed the job, sent it and died
		// before recording the outcome.
		claimed, err := s.Claim(t.Context(), time.Now(), 1, 2*time.Minute)
		require.NoError(t, err)
		require.Len(t, claimed, 1)

		rec := &recorder{}
		start(t, delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet}))
		time.Sleep(time.Minute)
		synctest.Wait()
		require.Empty(t, rec.Calls())

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		calls := rec.Calls()
		require.Len(t, calls, 1)
		require.Equal(t, keys[0], calls[0].req.Key)
		require.Equal(t, store.StateDone, jobs(t, s)[0].State)
	})
}

func TestDeliver_ErrorsAreRedacted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		enqueue(t, s, "crm")
		var logs bytes.Buffer
		var mu sync.Mutex
		rec := &recorder{fail: func(int, call) error {
			return actions.Permanent(errors.New("POST https://crm.example.com/?token=s3cret failed"))
		}}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec),
			Logger: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil)),
			Redact: func(s string) string { return strings.ReplaceAll(s, "s3cret", "***") }})
		start(t, d)
		synctest.Wait()

		j := jobs(t, s)[0]
		require.Equal(t, store.StateDead, j.State)
		require.NotContains(t, j.LastError, "s3cret")
		require.Contains(t, j.LastError, "***")
		mu.Lock()
		defer mu.Unlock()
		require.Contains(t, logs.String(), "dead letter")
		require.NotContains(t, logs.String(), "s3cret")
		require.Contains(t, logs.String(), "job=1")
	})
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// otherKey returns the key of keys (two of them) that is not k.
func otherKey(keys []string, k string) string {
	if keys[0] == k {
		return keys[1]
	}
	return keys[0]
}

func TestDeliver_WakeClaimsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t)
		rec := &recorder{}
		d := delivery.New(delivery.Options{Outbox: s, Senders: senders(rec), Logger: quiet, Poll: time.Hour})
		start(t, d)
		synctest.Wait() // the first look finds nothing

		enqueue(t, s, "crm")
		d.Wake()
		synctest.Wait()
		require.Len(t, rec.Calls(), 1, "delivered without waiting for the poll")
		require.Equal(t, store.StateDone, jobs(t, s)[0].State)
	})
}
