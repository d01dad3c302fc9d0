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
		out[name] = &destLimiter{rate: d.Rate, lim: rate.NewLimiter(rate.Limit(d.Rate.PerSecond), d.Rate.Burst)}
	}
	return out
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
