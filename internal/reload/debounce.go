package reload

import "time"

// debouncer turns a burst of events into one firing: quiet after the last
// event, but no later than maxWait after the first, so that a directory
// written to without pause (a log file next to the rules) cannot postpone
// a check forever. It uses the time package's timers, so that tests run it
// under testing/synctest. It belongs to one goroutine.
type debouncer struct {
	quiet, maxWait time.Duration
	t              *time.Timer
	first          time.Time // of the pending burst; zero when idle
}

func newDebouncer(quiet time.Duration) *debouncer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &debouncer{quiet: quiet, maxWait: 10 * quiet, t: t}
}

// event records an event and (re)arms the timer.
func (d *debouncer) event() {
	now := time.Now()
	if d.first.IsZero() {
		d.first = now
	}
	wait := d.quiet
	if rest := d.first.Add(d.maxWait).Sub(now); rest < wait {
		wait = max(rest, 0)
	}
	d.t.Reset(wait)
}

// fire is the channel that receives when the burst is over.
func (d *debouncer) fire() <-chan time.Time { return d.t.C }

// fired must be called after a receive from fire.
func (d *debouncer) fired() { d.first = time.Time{} }

func (d *debouncer) stop() { d.t.Stop() }
