package app

import (
	"golang.org/x/time/rate"

	"github.com/switchboard-dev/switchboard/actions"
)

// limiters are the destinations' rate limiters (their `rate:`), built in
// loadActive and carried from one rule set to the next when a destination
// keeps its rate, so that a reload does not reset what was spent.
type limiters map[string]*destLimiter

type destLimiter struct {
	rate actions.Rate
	lim  *rate.Limiter
}

// limitersFor returns the limiters of the running rules' destinations,
// reusing prev's where the rate is the same.
func (a *App) limitersFor(act *active, prev *active) limiters {
	out := limiters{}
	for name, d := range act.rules.Destinations {
		if !d.Rate.Limited() {
			continue
		}
		if prev != nil {
			if l, ok := prev.limiters[name]; ok && l.rate == d.Rate {
				out[name] = l
				continue
			}
		}
		lim, burst := share(d.Rate, a.peerCount())
		out[name] = &destLimiter{rate: d.Rate, lim: rate.NewLimiter(lim, burst)}
	}
	return out
}

// share is one instance's part of a destination's rate when n instances
// share a store: the rate and burst divided by n (the burst at least 1),
// so that together they never exceed it. An instance given more than its
// part of a destination's deliveries waits, although another may be idle.
func share(r actions.Rate, n int) (rate.Limit, int) {
	n = max(n, 1)
	return rate.Limit(r.PerSecond / float64(n)), max(1, r.Burst/n)
}

// peerCount is the number of live instances sharing the store (1 on a
// store of one's own).
func (a *App) peerCount() int { return max(1, int(a.peers.Load())) }

// setPeers records the number of live instances and rescales the running
// rules' limiters when it changed.
func (a *App) setPeers(n int) {
	n = max(n, 1)
	if int(a.peers.Swap(int64(n))) == n {
		return
	}
	if act := a.active.Load(); act != nil {
		for _, l := range act.limiters {
			lim, burst := share(l.rate, n)
			l.lim.SetLimit(lim)
			l.lim.SetBurst(burst)
		}
	}
	a.log.Info("instances sharing the store changed; each destination's rate is divided among them", "instances", n)
}

// limiter is delivery's rate limiter of a destination (nil: no limit).
func (a *App) limiter(dest string) *rate.Limiter {
	if l, ok := a.active.Load().limiters[dest]; ok {
		return l.lim
	}
	return nil
}

// retryPolicy is delivery's retry policy of a destination: its `retry:`
// in the running rules (the zero value: the service's).
func (a *App) retryPolicy(dest string) actions.Retry {
	if d, ok := a.Rules().Destinations[dest]; ok {
		return d.Retry
	}
	return actions.Retry{}
}
