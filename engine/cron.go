package engine

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Looking at a schedule's times around a moment, in the schedule's time
// zone. robfig/cron only computes next times; Prev searches backwards with
// Next, so every method here agrees with Next across DST changes: a wall
// time skipped when the clocks go forward has no run, one repeated when
// they go back runs twice, as Next does.
//
// An @every schedule has no fixed times of its own (the service counts it
// from the schedule's start); here its times are the multiples of its
// interval since the Unix epoch (@every 5m: :00, :05, :10... UTC), the one
// anchor that needs no state.

// prevYears bounds Prev's search, as cron bounds Next's.
const prevYears = 5

// Prev returns the latest scheduled time at or before t (to the second), in
// the schedule's location, or the zero time if there is none within five
// years before t.
func (s *Schedule) Prev(t time.Time) time.Time {
	t = t.Truncate(time.Second)
	if d, ok := s.every(); ok {
		return s.onGrid(floorDiv(t.Unix(), d) * d)
	}
	limit := t.AddDate(-prevYears, 0, 0)
	// Windows (start, t] growing fourfold until one holds a run, then the
	// latest run of that window; runs at start itself are in the next
	// window, so none is missed.
	for w := time.Minute; ; w *= 4 {
		start := t.Add(-w)
		if start.Before(limit) {
			start = limit
		}
		var last time.Time
		for n := s.Next(start); !n.IsZero() && !n.After(t); n = s.Next(n) {
			last = n
		}
		if !last.IsZero() {
			return last.In(s.Location)
		}
		if !start.After(limit) {
			return time.Time{}
		}
	}
}

// IsRunTime reports whether t, to the second, is a scheduled time.
func (s *Schedule) IsRunTime(t time.Time) bool {
	t = t.Truncate(time.Second)
	if d, ok := s.every(); ok {
		return floorDiv(t.Unix(), d)*d == t.Unix()
	}
	return s.Next(t.Add(-time.Second)).Equal(t)
}

// Times returns the next n scheduled times after from, in the schedule's
// location; fewer if the schedule ends (a spec with no time within five
// years), none for n <= 0.
func (s *Schedule) Times(from time.Time, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	out := make([]time.Time, 0, n)
	if d, ok := s.every(); ok {
		next := (floorDiv(from.Unix(), d) + 1) * d
		for i := range n {
			out = append(out, s.onGrid(next+int64(i)*d))
		}
		return out
	}
	for t := from; len(out) < n; {
		if t = s.Next(t); t.IsZero() {
			break
		}
		out = append(out, t.In(s.Location))
	}
	return out
}

// every returns an @every schedule's interval in seconds.
func (s *Schedule) every() (int64, bool) {
	c, ok := s.sched.(cron.ConstantDelaySchedule)
	if !ok {
		return 0, false
	}
	return max(int64(c.Delay/time.Second), 1), true
}

// onGrid is the time of Unix second sec in the schedule's location.
func (s *Schedule) onGrid(sec int64) time.Time {
	return time.Unix(sec, 0).In(s.Location)
}

// floorDiv is a/b rounded down (b > 0), also for times before 1970.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
