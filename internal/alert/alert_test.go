package alert_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/alert"
)

type sent struct {
	at time.Time
	n  actions.Notice
}

type outbox struct {
	mu    sync.Mutex
	got   []sent
	fails int // the next Sends that fail
}

func (o *outbox) send(_ context.Context, dest string, n actions.Notice) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if dest != "ops" {
		return errors.New("wrong destination " + dest)
	}
	if o.fails > 0 {
		o.fails--
		return errors.New("503")
	}
	o.got = append(o.got, sent{time.Now(), n})
	return nil
}

func (o *outbox) sent() []sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]sent(nil), o.got...)
}

func run(t *testing.T, o *outbox, every time.Duration) *alert.Alerter {
	a := alert.New(alert.Options{
		Target: func() (alert.Target, bool) { return alert.Target{Destination: "ops", Every: every}, true },
		Send:   o.send, Logger: slog.New(slog.DiscardHandler),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// TestOutageSendsOneSummaryPerWindow: thousands of dead letters over an
// outage are announced in one summary per window, the first a few seconds
// after the first dead letter, and every dead letter is counted once.
func TestOutageSendsOneSummaryPerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &outbox{}
		a := run(t, o, 15*time.Minute)
		t0 := time.Now()
		// 20 minutes of an outage: 5 dead letters a second.
		for i := range 20 * 60 * 5 {
			a.Add("fwd", "crm", "HTTP 503")
			if i%5 == 4 {
				time.Sleep(time.Second)
			}
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		got := o.sent()
		require.Len(t, got, 3, "at 10s, then 15 min after, then the rest")
		require.Equal(t, 10*time.Second, got[0].at.Sub(t0))
		require.Equal(t, 15*time.Minute, got[1].at.Sub(got[0].at))
		require.Equal(t, 15*time.Minute, got[2].at.Sub(got[1].at))
		total := 0
		for _, s := range got {
			total += s.n.Count
			require.Equal(t, "dead_letters", s.n.Type)
			require.Contains(t, s.n.Text, "- crm, rule fwd: ")
		}
		require.Equal(t, 20*60*5, total)
		require.InDelta(t, 50, got[0].n.Count, 5, "the first ten seconds' dead letters")
		require.Regexp(t, `^Switchboard: \d+ new dead letters$`, got[0].n.Subject)

		// Quiet for longer than the window: the next one goes out soon.
		t1 := time.Now()
		a.Add("fwd", "crm", "HTTP 503")
		time.Sleep(time.Minute)
		synctest.Wait()
		got = o.sent()
		require.Len(t, got, 4)
		require.Equal(t, 10*time.Second, got[3].at.Sub(t1))
		require.Equal(t, "Switchboard: 1 new dead letter", got[3].n.Subject)
	})
}

// TestUnsentSummaryIsMergedIntoTheNext: a summary whose destination fails
// is not lost: its dead letters are counted in the next one, a window
// later.
func TestUnsentSummaryIsMergedIntoTheNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &outbox{fails: 1}
		a := run(t, o, time.Minute)
		for range 3 {
			a.Add("fwd", "crm", "HTTP 503")
		}
		time.Sleep(10 * time.Second)
		a.Add("alert", "", "the action could not be rendered")
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		got := o.sent()
		require.Len(t, got, 1)
		require.Equal(t, 4, got[0].n.Count)
		require.Contains(t, got[0].n.Text, "- crm, rule fwd: 3; last reason: HTTP 503\n")
		require.Contains(t, got[0].n.Text, "- rule alert (no destination): 1; last reason: the action could not be rendered\n")
	})
}

// TestNoTargetSendsNothing: without on_dead_letter: dead letters are only
// counted elsewhere.
func TestNoTargetSendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		o := &outbox{}
		a := alert.New(alert.Options{Target: func() (alert.Target, bool) { return alert.Target{}, false }, Send: o.send})
		ctx, cancel := context.WithCancel(t.Context())
		go a.Run(ctx)
		a.Add("fwd", "crm", "x")
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Empty(t, o.sent())
		cancel()
	})
}
