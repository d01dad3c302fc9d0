package app

import (
	"testing"

	"golang.org/x/time/rate"

	"github.com/switchboard-dev/switchboard/actions"
)

// TestShare: instances sharing a store split each destination's rate, so
// that together they stay within it.
func TestShare(t *testing.T) {
	for _, tc := range []struct {
		r         actions.Rate
		n         int
		lim       rate.Limit
		burst     int
		sumWithin bool
	}{
		{actions.Rate{PerSecond: 10, Burst: 10}, 1, 10, 10, true},
		{actions.Rate{PerSecond: 10, Burst: 10}, 0, 10, 10, true},
		{actions.Rate{PerSecond: 10, Burst: 10}, 3, rate.Limit(10.0 / 3), 3, true},
		{actions.Rate{PerSecond: 1, Burst: 1}, 2, 0.5, 1, false}, // a burst below 1 cannot be split
	} {
		lim, burst := share(tc.r, tc.n)
		if lim != tc.lim || burst != tc.burst {
			t.Errorf("share(%+v, %d) = %v, %d; want %v, %d", tc.r, tc.n, lim, burst, tc.lim, tc.burst)
		}
		n := max(tc.n, 1)
		if got := float64(lim) * float64(n); got > tc.r.PerSecond+1e-9 {
			t.Errorf("share(%+v, %d): %d instances send %v/s, over the rate", tc.r, tc.n, n, got)
		}
		if tc.sumWithin && burst*n > tc.r.Burst {
			t.Errorf("share(%+v, %d): bursts add up to %d", tc.r, tc.n, burst*n)
		}
	}
}
