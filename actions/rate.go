package actions

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a destination's send rate limit: on average at most PerSecond
// sends a second, in bursts of at most Burst. The zero value is no limit.
// A rules file sets it on any destination with `rate: 1/s` (or `30/m`,
// `100/10s`, `none`) and `burst: N`.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Limited reports whether r limits anything.
func (r Rate) Limited() bool { return r.PerSecond > 0 }

// String prints r as the rules file writes it.
func (r Rate) String() string {
	if !r.Limited() {
		return "none"
	}
	return fmt.Sprintf("%s/s, burst %d", strconv.FormatFloat(r.PerSecond, 'f', -1, 64), r.Burst)
}

// RateDefaulter is implemented by kinds whose destinations are rate
// limited unless the rules file says otherwise (Slack accepts about one
// message a second per webhook).
type RateDefaulter interface {
	DefaultRate(dest any) Rate
}

// ParseRate reads a `rate:` value: "N/s", "N/m", "N/h", "N/<duration>"
// (such as "100/10s"), or "none". burst is the `burst:` value (0: the
// default, one send, or N for N/s with N ≥ 1).
func ParseRate(s string, burst int) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
	if !ok || err != nil || count <= 0 {
		return Rate{}, fmt.Errorf("rate: expected a number of sends per unit, such as 1/s, 30/m or 100/10s (or none), got %q", s)
	}
	var unit time.Duration
	switch per = strings.TrimSpace(per); per {
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	default:
		if unit, err = time.ParseDuration(per); err != nil || unit <= 0 {
			return Rate{}, fmt.Errorf("rate: expected s, m, h or a duration such as 10s after the /, got %q", per)
		}
	}
	if burst < 0 {
		return Rate{}, fmt.Errorf("burst: expected a positive number of sends, got %d", burst)
	}
	r := Rate{PerSecond: count / unit.Seconds(), Burst: burst}
	if r.Burst == 0 {
		r.Burst = max(1, int(r.PerSecond))
	}
	return r, nil
}
