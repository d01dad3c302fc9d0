// Package httpkit is what the HTTP-shaped action kinds (http, slack,
// hubspot, telegram, teams, sheets) share: the Client that sends an
// actions.HTTPRequest once, with the egress guard, no redirects and errors
// that never show a URL or a header value; the Idempotency-Key header;
// header checks; and the scrubbing of secrets from answers kept in errors.
// No kind imports another kind.
package httpkit

import (
	"fmt"
	"strings"
	"time"
)

// MaxTimeout is the longest attempt an action or destination may ask for.
const MaxTimeout = 5 * time.Minute

// IdempotencyKey is the header that carries Request.Key, so that receivers
// can drop a request delivered twice.
const IdempotencyKey = "Idempotency-Key"

// SetIdempotencyKey sets the Idempotency-Key header of a wire form's
// headers to key, unless key is empty. A key that would not fit on one
// header line is an error.
func SetIdempotencyKey(header map[string]string, key string) error {
	if key == "" {
		return nil
	}
	if BadHeaderValue(key) {
		return fmt.Errorf("the idempotency key contains a line break or control character")
	}
	header[IdempotencyKey] = key
	return nil
}

// ValidToken reports whether s is an HTTP token (RFC 9110 5.6.2), such as
// a header name.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// BadHeaderValue reports whether s holds a control character other than a
// tab: CR and LF would start a new header.
func BadHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}
