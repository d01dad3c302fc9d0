package ingest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// allowedMethods is the Allow header of a 405 and of a preflight.
const allowedMethods = "POST, OPTIONS"

// defaultAllowHeaders is sent when a preflight asks for headers that do not
// look like header names.
const defaultAllowHeaders = "Content-Type, Authorization"

// Server timeouts of NewServer. ReadHeaderTimeout cuts slowloris headers;
// ReadTimeout a body trickled byte by byte.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h with the timeouts above; a server
// without them can be held open by slow clients.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// redactMarker is the part of a hook path after which the token follows.
const redactMarker = Path + "/"

// RedactPath hides the token of a hook path: "/hooks/cooby/<token>..."
// becomes "/hooks/cooby/***" (the marker matched without regard to ASCII
// case, anywhere in the path). Other paths are returned unchanged. Use it for
// every access-log line.
func RedactPath(path string) string {
	for i := 0; i+len(redactMarker) <= len(path); i++ {
		if strings.EqualFold(path[i:i+len(redactMarker)], redactMarker) {
			if i+len(redactMarker) == len(path) {
				return path
			}
			return path[:i+len(redactMarker)] + "***"
		}
	}
	return path
}

// splitPath returns the token segment of a hook path ("" for Path itself)
// and whether path is a hook path at all.
func splitPath(path string) (token string, ok bool) {
	rest, found := strings.CutPrefix(path, Path)
	switch {
	case !found:
		return "", false
	case rest == "" || rest == "/":
		return "", true
	case rest[0] != '/':
		return "", false
	}
	token = rest[1:]
	if strings.Contains(token, "/") {
		return "", false
	}
	return token, true
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(header string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authorized compares token with every accepted token in constant time:
// digests make the comparison independent of the tokens' lengths, and the
// loop never exits early.
func (h *Handler) authorized(token string) bool {
	sum := sha256.Sum256([]byte(token))
	match := 0
	for i := range h.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], h.tokens[i][:])
	}
	return match == 1 && token != ""
}

// preflight answers a CORS preflight (no token: browsers send none).
func preflight(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Allow", allowedMethods)
	hdr.Set("Access-Control-Allow-Methods", allowedMethods)
	hdr.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
	hdr.Set("Access-Control-Max-Age", "7200") // Chromium's cap
	if r.Header.Get("Access-Control-Request-Private-Network") == "true" {
		// Chrome's Private Network Access, for a Switchboard on a LAN
		// reached from WhatsApp Web.
		hdr.Set("Access-Control-Allow-Private-Network", "true")
	}
	hdr.Add("Vary", "Access-Control-Request-Headers")
	w.WriteHeader(http.StatusNoContent)
}

// allowHeaders echoes the requested header names when every one is an HTTP
// token (and the list is short), else returns defaultAllowHeaders.
func allowHeaders(requested []string) string {
	var names []string
	size := 0
	for _, v := range requested {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			size += len(name)
			if !isToken(name) || size > 1024 || len(names) >= 64 {
				return defaultAllowHeaders
			}
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return defaultAllowHeaders
	}
	return strings.Join(names, ", ")
}

// isToken reports whether s is an RFC 9110 token (a valid header name).
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// reply is every answer's body.
type reply struct {
	ID           int64  `json:"id,omitempty"`
	Duplicate    bool   `json:"duplicate,omitempty"`
	Error        string `json:"error,omitempty"`
	QuarantineID int64  `json:"quarantine_id,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v reply) {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for reply
		b = []byte(`{"error":"internal error"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
