package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"
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

// SharedHealth is implemented by a store shared by several instances (the
// PostgreSQL store): each destination's health lives in the database, so
// that a destination one instance found failing is paused for every
// instance, and one instance at a time probes it. The rules applied are
// this file's, the same as for one instance; only the state is shared.
type SharedHealth interface {
	// UpdateHealth calls fn with dest's stored health (zero if none) under
	// a lock, and stores what fn leaves (zero: healthy, nothing kept).
	UpdateHealth(ctx context.Context, dest string, fn func(*store.DestinationHealth)) error
	// UnhealthyDestinations returns the stored health of every destination
	// that has some.
	UnhealthyDestinations(ctx context.Context) (map[string]store.DestinationHealth, error)
}

type health struct {
	mu sync.Mutex
	m  map[string]*destHealth

	// shared, if set, holds the state instead of m. seen is what it held
	// at the last refresh (and after each update): destinations absent
	// from it are taken as healthy without asking, so that the healthy
	// path costs the database nothing.
	shared    SharedHealth
	seen      map[string]store.DestinationHealth
	probeHold time.Duration // how long a shared probe is reserved
	log       *slog.Logger
}

type destHealth struct {
	failures int
	paused   bool
	probing  bool
	next     time.Time // the next probe, while paused
}

// admitState is the rule of admit on one destination's health.
func admitState(d *destHealth, now time.Time) (probe bool, wait time.Time) {
	if d == nil || !d.paused {
		return false, time.Time{}
	}
	if now.Before(d.next) {
		return false, d.next
	}
	if d.probing {
		// The probe was due and is under way (perhaps on another
		// instance): wait for its outcome rather than until a time
		// already past, which would claim this job again at once.
		return false, now.Add(minProbe)
	}
	d.probing = true
	return true, time.Time{}
}

// reportState is the rule of report on one destination's health; healthy
// means nothing need be kept of it any more.
func reportState(d *destHealth, ok, probe bool, now, retryAt time.Time) (recovered, healthy bool) {
	if probe {
		d.probing = false
	}
	if ok {
		return d.paused, true
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
	return false, false
}

// admit decides whether a job to dest is attempted now: yes if dest is
// healthy, or if it is paused and this job is its probe (due, and none in
// flight); otherwise it returns the time to wait until.
func (h *health) admit(dest string, now time.Time) (probe bool, wait time.Time) {
	if h.shared != nil {
		if !h.suspect(dest) {
			return false, time.Time{}
		}
		err := h.update(dest, now, func(d *destHealth) bool {
			probe, wait = admitState(d, now)
			return false
		})
		if err != nil { // fail open: the attempt's own outcome still counts
			h.log.Warn("delivery: reading the destination's shared health failed; sending", "dest", dest, "err", err)
			return false, time.Time{}
		}
		return probe, wait
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return admitState(h.m[dest], now)
}

// report takes an attempt's result into dest's health (retryAt: when the
// failed attempt is retried). It returns true when dest recovered (was
// paused, and this attempt succeeded): the caller releases what waits for
// it.
func (h *health) report(dest string, ok, probe bool, now, retryAt time.Time) (recovered bool) {
	if h.shared != nil {
		if ok && !probe && !h.suspect(dest) {
			return false
		}
		err := h.update(dest, now, func(d *destHealth) bool {
			var healthy bool
			recovered, healthy = reportState(d, ok, probe, now, retryAt)
			return healthy
		})
		if err != nil {
			h.log.Warn("delivery: recording the destination's shared health failed", "dest", dest, "err", err)
		}
		return recovered
	}
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
	recovered, healthy := reportState(d, ok, probe, now, retryAt)
	if healthy {
		delete(h.m, dest)
	}
	return recovered
}

// suspect reports whether the shared store may hold something of dest.
func (h *health) suspect(dest string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.seen[dest]
	return ok
}

// update applies fn to dest's shared health under the store's lock; fn
// returns true when dest is healthy again (nothing kept).
func (h *health) update(dest string, now time.Time, fn func(d *destHealth) (healthy bool)) error {
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	var after store.DestinationHealth
	err := h.shared.UpdateHealth(ctx, dest, func(s *store.DestinationHealth) {
		d := &destHealth{failures: s.Failures, paused: s.Paused, probing: s.ProbeUntil.After(now), next: s.NextProbe}
		if fn(d) {
			*s = store.DestinationHealth{}
		} else {
			until := time.Time{}
			if d.probing {
				until = s.ProbeUntil
				if !until.After(now) {
					until = now.Add(h.probeHold)
				}
			}
			*s = store.DestinationHealth{Failures: d.failures, Paused: d.paused, NextProbe: d.next, ProbeUntil: until}
		}
		after = *s
	})
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]store.DestinationHealth{}
	}
	if after.IsZero() {
		delete(h.seen, dest)
	} else {
		h.seen[dest] = after
	}
	return nil
}

// refresh reads the shared health of every destination.
func (h *health) refresh(ctx context.Context) error {
	m, err := h.shared.UnhealthyDestinations(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.seen = m
	h.mu.Unlock()
	return nil
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
	if h.shared != nil {
		return h.seen[dest].Failures
	}
	if d := h.m[dest]; d != nil {
		return d.failures
	}
	return 0
}

// cancel ends a probe that was not made (shutdown, or the job had to
// wait), so that the next job can probe.
func (h *health) cancel(dest string) {
	if h.shared != nil {
		err := h.update(dest, time.Now(), func(d *destHealth) bool { d.probing = false; return false })
		if err != nil {
			h.log.Warn("delivery: ending the destination's probe in the shared health failed; it lapses by itself", "dest", dest, "err", err)
		}
		return
	}
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
	if h.shared != nil {
		out := make([]Health, 0, len(h.seen))
		for name, d := range h.seen {
			if d.IsZero() {
				continue
			}
			s := Health{Destination: name, Paused: d.Paused, Failures: d.Failures}
			if d.Paused {
				s.NextProbe = d.NextProbe
			}
			out = append(out, s)
		}
		return out
	}
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
