package actions

import (
	"fmt"
	"strings"
	"time"
)

// DefaultSchedule is the delay before each retry of a failed delivery,
// after its first attempt (which is made at once): 5 s, 5 min, 30 min,
// 2 h, 5 h, then every 10 h, twelve attempts spanning about 68 hours, so
// that a delivery outlasts a destination that is down over a weekend and
// is given up only near the default --max-age of 72 h. Each delay is
// jittered (see the delivery package).
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Retry is a destination's own retry policy (`retry:` in the rules file).
// The zero value means the service's (`serve --retry-schedule` and
// --max-age).
type Retry struct {
	// Schedule is the delay before each retry; a delivery whose retries
	// are spent is a dead letter. Empty: the service's.
	Schedule []time.Duration
	// MaxAge bounds how long after it was enqueued a delivery may still be
	// tried; 0: the service's --max-age.
	MaxAge time.Duration
}

// IsZero reports whether r leaves everything to the service.
func (r Retry) IsZero() bool { return len(r.Schedule) == 0 && r.MaxAge == 0 }

// MaxSchedule is the most retries a schedule may list.
const MaxSchedule = 100

// ParseSchedule reads a retry schedule written as durations separated by
// commas ("5s, 1m, 10m"), as `serve --retry-schedule` takes it.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		d, err := ParseScheduleStep(f)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) > MaxSchedule {
		return nil, fmt.Errorf("retry schedule: at most %d retries, got %d", MaxSchedule, len(out))
	}
	return out, nil
}

// ParseScheduleStep reads one delay of a retry schedule: a duration such
// as 5s, 10m or 2h, 0 for at once, at most a week.
func ParseScheduleStep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if s == "0" {
		d, err = 0, nil
	}
	if err != nil || d < 0 {
		return 0, fmt.Errorf("retry schedule: expected a duration such as 5s, 10m or 2h, got %q", s)
	}
	if d > 7*24*time.Hour {
		return 0, fmt.Errorf("retry schedule: a delay of at most 168h (a week), got %s", s)
	}
	return d, nil
}
