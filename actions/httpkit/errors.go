package httpkit

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions/egress"

	"github.com/switchboard-dev/switchboard/actions"
)

// MaxSnippet is how much of a response body an error keeps.
const MaxSnippet = 512

// sendError is a request that got no answer. Its text names the method and
// the destination, never the URL (Go's *url.Error prints it whole, tokens
// included); Unwrap gives a cause free of the URL as well:
// context.Canceled, context.DeadlineExceeded, a syscall.Errno, or nil.
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

// transportError rewrites the error of a request that got no answer. It is
// retryable: a plain error.
func (c *Client) transportError(ctx context.Context, name string, w *actions.HTTPRequest, err error) error {
	what, cause := describe(err)
	if cause == nil {
		what = scrub(what, secrets(w))
	}
	return &sendError{msg: w.Method + " to " + target(name, w) + ": " + what, cause: cause}
}

// describe says in a few words why a request got no answer, without the
// URL, and returns a URL-free cause to unwrap, if there is one.
func describe(err error) (string, error) {
	var (
		errno    syscall.Errno
		dnsErr   *net.DNSError
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		netErr   net.Error
		urlErr   *url.Error
		opErr    *net.OpError
		innerErr = err
	)
	var refused *egress.RefusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error(), actions.Permanent(refused)
	case errors.Is(err, context.Canceled):
		return "canceled", context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", context.DeadlineExceeded
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout", context.DeadlineExceeded
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused", syscall.ECONNREFUSED
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset", syscall.ECONNRESET
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "DNS lookup failed: no such host", nil
		}
		return "DNS lookup failed", nil
	case errors.As(err, &certErr):
		return "TLS certificate not accepted", nil
	case errors.As(err, &recErr):
		return "TLS handshake failed (not a TLS server?)", nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer", nil
	case errors.As(err, &errno):
		return errno.Error(), errno
	}
	if errors.As(err, &urlErr) {
		innerErr = urlErr.Err
	}
	if errors.As(innerErr, &opErr) && opErr.Err != nil {
		return opErr.Op + ": " + opErr.Err.Error(), nil
	}
	return innerErr.Error(), nil
}

// Snippet returns the start of a response body to keep in an error: at
// most MaxSnippet bytes of valid UTF-8, control characters turned into
// spaces, and the secrets of w (URL parts, header values) replaced with
// ***, since a receiver may echo them.
func Snippet(w *actions.HTTPRequest, body []byte) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = scrub(strings.TrimSpace(s), secrets(w))
	if len(s) > MaxSnippet {
		cut := MaxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// Minimum lengths of the parts of a request treated as secrets: shorter
// ones are common words, which scrubbing would only garble.
const (
	minSecretHeader = 8
	minSecretURL    = 16
)

// secrets lists the parts of w that may hold a secret: the URL whole,
// without its scheme and host, its path (whole, with or without a final
// slash, escaped or not: a receiver that answers "Cannot POST
// /hooks/catch/4711/abc123/" echoes it, short secret segments included),
// its query (whole, and long values), its user info, long path segments,
// and header values other than the few that never hold one (each value
// whole and, if long, word by word, for "Bearer <token>").
func secrets(w *actions.HTTPRequest) []string {
	var out []string
	add := func(s string, minLen int) {
		if len(s) >= minLen {
			out = append(out, s)
		}
	}
	add(w.URL, 1)
	if u, err := url.Parse(w.URL); err == nil {
		if u.User != nil {
			add(u.User.String(), 1)
			p, _ := u.User.Password()
			add(p, 1)
		}
		add(u.Host+u.RequestURI(), 1)
		for _, p := range []string{u.EscapedPath(), u.Path} {
			if len(strings.Trim(p, "/")) == 0 {
				continue
			}
			add(u.Host+p, 1)
			add(p, 1)
			add(strings.TrimSuffix(p, "/"), 2)
			if u.RawQuery != "" {
				add(p+"?"+u.RawQuery, 1)
			}
		}
		for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
			add(seg, minSecretURL)
			if v, err := url.PathUnescape(seg); err == nil && v != seg {
				add(v, minSecretURL)
			}
		}
		add(u.RawQuery, 1)
		if q, err := url.QueryUnescape(u.RawQuery); err == nil {
			add(q, 1)
		}
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v, minSecretHeader)
			}
		}
	}
	for k, v := range w.Header {
		if publicHeaders[k] {
			continue
		}
		add(v, 1)
		for f := range strings.FieldsSeq(v) {
			add(f, minSecretHeader)
		}
	}
	return out
}

// publicHeaders never hold a secret: their values are not scrubbed from
// error texts.
var publicHeaders = map[string]bool{
	"Content-Type": true, IdempotencyKey: true, "Accept": true, "User-Agent": true, "Content-Length": true,
}

// scrub replaces every secret in s with ***, longest first. A secret
// shorter than minAnywhere is replaced only where it stands alone (between
// characters that are not letters or digits), so that a header value "2"
// does not turn "2024" into "***0***4".
func scrub(s string, secrets []string) string {
	if len(secrets) == 0 || s == "" {
		return s
	}
	// Longest first, so that a secret holding another goes whole.
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(sorted))
	var short []string
	for _, v := range sorted {
		if len(v) < minAnywhere {
			short = append(short, v)
			continue
		}
		pairs = append(pairs, v, "***")
	}
	if len(pairs) > 0 {
		s = strings.NewReplacer(pairs...).Replace(s)
	}
	for _, v := range short {
		s = actions.MaskWord(s, v)
	}
	return s
}

// minAnywhere is the shortest secret scrubbed wherever it appears.
const minAnywhere = 4
