package delivery

import (
	"context"
	"sync"
	"time"
)

// Destination health: a destination whose attempts keep failing is
// paused, so that an outage does not spend every waiting delivery's
// attempts (and make dead letters of them). While it is paused one
// delivery at a time probes it, on a growing interval (1 s to 15 s); the
// others wait (parked for up to parkFor) without spending an attempt. The first probe that succeeds resumes it
// and releases every delivery waiting for it at once.

const (
	// pauseAfter is how many attempts in a row must fail for a
	// destination to be paused.
	pauseAfter = 3
	// minProbe and maxProbe bound the interval between probes; within
	// them, the next probe is when the failed attempt's own retry is due
	// (its backoff).
	minProbe = time.Second
	maxProbe = 15 * time.Second
	// parkFor is how long a delivery to a paused destination waits before
	// it looks again (a probe's success releases it at once): long, so that
	// the deliveries piling up in an outage are not rewritten at every
	// probe; bounded, since the pause lives in memory and a restart forgets
	// it.
	parkFor = 5 * time.Minute
)

// Releaser is implemented by outboxes that can make every waiting job of a
// destination due at once (a *store.Store does); without it, jobs wait for
// their own next attempt after a destination recovers.
type Releaser interface {
	ReleaseDestination(ctx context.Context, destination string, now time.Time) (int, error)
}

// Health is a destination's health as /status shows it.
type Health struct {
	Destination string `json:"destination"`
	// Paused: the destination failed pauseAfter times in a row; only probes
	// are sent until one succeeds.
	Paused bool `json:"paused"`
	// Failures counts the attempts that failed in a row.
	Failures int `json:"failures_in_a_row"`
	// NextProbe is when a paused destination is tried again.
	NextProbe time.Time `json:"next_probe,omitzero"`
}

type health struct {
	mu sync.Mutex
	m  map[string]*destHealth
}

type destHealth struct {
	failures int
	paused   bool
	probing  bool
	next     time.Time // the next probe, while paused
}

// admit decides whether a job to dest is attempted now: yes if dest is
// healthy, or if it is paused and this job is its probe (due, and none in
// flight); otherwise it returns the time to wait until.
func (h *health) admit(dest string, now time.Time) (probe bool, wait time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.m[dest]
	if d == nil || !d.paused {
		return false, time.Time{}
	}
	if d.probing || now.Before(d.next) {
		return false, d.next
	}
	d.probing = true
	return true, time.Time{}
}

// report takes an attempt's result into dest's health (retryAt: when the
// failed attempt is retried). It returns true when dest recovered (was
// paused, and this attempt succeeded): the caller releases what waits for
// it.
func (h *health) report(dest string, ok, probe bool, now, retryAt time.Time) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*destHealth{}
	}
	d := h.m[dest]
	if d == nil {
		if ok {
			return false
		}
		d = &destHealth{}
		h.m[dest] = d
	}
	if probe {
		d.probing = false
	}
	if ok {
		recovered = d.paused
		delete(h.m, dest)
		return recovered
	}
	d.failures++
	if (d.paused && probe) || (!d.paused && d.failures >= pauseAfter) {
		d.paused = true
		next := retryAt
		if next.Before(now.Add(minProbe)) {
			next = now.Add(minProbe)
		}
		if next.After(now.Add(maxProbe)) {
			next = now.Add(maxProbe)
		}
		d.next = next
	}
	return false
}

// paused reports whether dest is paused.
func (h *health) paused(dest string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := h.m[dest]
	return d != nil && d.paused
}

// failures is how many attempts to dest failed in a row.
func (h *health) failures(dest string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.m[dest]; d != nil {
		return d.failures
	}
	return 0
}

// cancel ends a probe that was not made (shutdown, or the job had to
// wait), so that the next job can probe.
func (h *health) cancel(dest string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d := h.m[dest]; d != nil {
		d.probing = false
	}
}

// snapshot lists the destinations that are not healthy.
func (h *health) snapshot() []Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Health, 0, len(h.m))
	for name, d := range h.m {
		s := Health{Destination: name, Paused: d.paused, Failures: d.failures}
		if d.paused {
			s.NextProbe = d.next
		}
		out = append(out, s)
	}
	return out
}
