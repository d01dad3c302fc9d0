package actions

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Permanent marks err as not worth retrying: the delivery becomes a dead
// letter at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// PermanentError is a failure that retrying cannot fix (a 4xx answer, an
// invalid address).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfter asks for a retry after d without counting a failed attempt (a
// 429 with Retry-After: the destination is fine, only busy).
func RetryAfter(d time.Duration, err error) error {
	return &RetryAfterError{After: d, Err: err}
}

// RetryAfterError is a request to retry later; see RetryAfter.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// StatusError is an unsuccessful HTTP answer. Body is the start of the
// response body, for the delivery log.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Code, http.StatusText(e.Code), e.Body)
}

// StatusCode returns the HTTP status inside err, or 0.
func StatusCode(err error) int {
	var s *StatusError
	if errors.As(err, &s) {
		return s.Code
	}
	return 0
}

// MaxRetryAfter caps how long a Retry-After header can postpone a delivery.
const MaxRetryAfter = 24 * time.Hour

// CheckHTTP classifies an HTTP answer, for every HTTP-shaped kind:
// 2xx is success; 429 honours Retry-After (seconds or an HTTP date; 30s
// if absent) without counting an attempt; 408 and 5xx are retried (503 with
// Retry-After is postponed like 429); any other status (3xx, 4xx) is
// permanent. body is the start of the response body, kept in the error.
func CheckHTTP(code int, header http.Header, body []byte, now time.Time) error {
	if code >= 200 && code < 300 {
		return nil
	}
	serr := &StatusError{Code: code, Body: strings.TrimSpace(string(body))}
	switch {
	case code == http.StatusTooManyRequests:
		d, ok := ParseRetryAfter(header.Get("Retry-After"), now)
		if !ok {
			d = 30 * time.Second
		}
		return RetryAfter(d, serr)
	case code == http.StatusServiceUnavailable:
		if d, ok := ParseRetryAfter(header.Get("Retry-After"), now); ok {
			return RetryAfter(d, serr)
		}
		return serr
	case code == http.StatusRequestTimeout || code >= 500:
		return serr
	}
	return Permanent(serr)
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date, capped at MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRetryAfter), true
	}
	return 0, false
}
