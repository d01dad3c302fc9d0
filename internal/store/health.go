package store

import "time"

// DestinationHealth is a destination's delivery health as a store shared
// by several instances keeps it (see delivery.SharedHealth): how many
// attempts in a row failed, whether it is paused, when it is probed next,
// and until when a probe is under way (zero: none).
type DestinationHealth struct {
	Failures   int
	Paused     bool
	NextProbe  time.Time
	ProbeUntil time.Time
}

// IsZero reports a healthy destination (nothing to keep).
func (h DestinationHealth) IsZero() bool { return h == DestinationHealth{} }
