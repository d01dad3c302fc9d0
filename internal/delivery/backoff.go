package delivery

import (
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Backoff spaces the probes of a paused destination (see health.go):
// exponential growth capped
// at Max, with full jitter (each delay is uniform between zero and the
// current ceiling), so that many jobs failing together do not retry in step.
// The zero value means base 1s, factor 2, max 1h.
type Backoff struct {
	// Base is the ceiling after the first failed attempt; 0 means 1s.
	Base time.Duration
	// Factor multiplies the ceiling after each further failure; values
	// below 1 mean 2.
	Factor float64
	// Max caps the ceiling; 0 means 1h.
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Base <= 0 {
		b.Base = time.Second
	}
	if b.Factor < 1 {
		b.Factor = 2
	}
	if b.Max <= 0 {
		b.Max = time.Hour
	}
	return b
}

// Ceiling returns the longest delay after the given number of earlier
// failed attempts (0 for the first failure): Base * Factor^failures, at
// most Max.
func (b Backoff) Ceiling(failures int) time.Duration {
	b = b.withDefaults()
	c := float64(b.Base) * math.Pow(b.Factor, float64(max(failures, 0)))
	if c >= float64(b.Max) || math.IsNaN(c) {
		return b.Max
	}
	return time.Duration(c)
}

// jitter draws uniform fractions for full jitter. *rand.Rand is not safe
// for concurrent use, so workers share it under a lock.
type jitter struct {
	mu sync.Mutex
	r  *rand.Rand
}

// delay returns a delay uniform in [0, ceiling].
func (j *jitter) delay(ceiling time.Duration) time.Duration {
	if ceiling <= 0 {
		return 0
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return time.Duration(j.r.Int64N(int64(ceiling) + 1))
}

// around returns a delay uniform within a fifth of d either side, so that
// the deliveries that failed together (an outage) are not retried in step.
func (j *jitter) around(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	spread := d / 5
	j.mu.Lock()
	defer j.mu.Unlock()
	return d - spread + time.Duration(j.r.Int64N(int64(2*spread)+1))
}
