package webhook

import (
	"fmt"
	"maps"
	"net/url"
	"slices"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Message is a rendered `http:` action, the Body of its actions.Request:
// everything taken from the action and the event, and nothing from its
// destination (base URL, headers, timeout), which may hold secrets and is
// added by Wire when the request is sent.
type Message struct {
	Method string `json:"method"`
	// URL is the full URL of an action without destination.
	URL string `json:"url,omitempty"`
	// Path is the path and query appended to the destination's URL ("":
	// the destination's URL itself).
	Path string `json:"path,omitempty"`
	// Header holds the action's own headers and the body's Content-Type,
	// names canonicalised.
	Header map[string]string `json:"header,omitempty"`
	// Body is sent as is.
	Body string `json:"body,omitempty"`
	// TimeoutMS bounds one attempt when the action sets it; 0 means the
	// destination's timeout, then the sender's.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// IdempotencyKey is the header that carries Request.Key.
const IdempotencyKey = httpkit.IdempotencyKey

// Wire is Kind's Wire with a typed result: dest is a *Destination, or nil
// for an action with a full URL.
func Wire(dest any, r actions.Request) (*actions.HTTPRequest, error) {
	return actions.WireAs[*actions.HTTPRequest](Kind, dest, r)
}

// wire combines a stored request with its destination (nil for an action
// with a full URL) into the *actions.HTTPRequest that is sent: the
// destination's URL joined with the action's path, the destination's
// headers overridden by the action's, the Idempotency-Key header from
// r.Key, and the timeout. It is pure.
func wire(d *Destination, m Message, r actions.Request) (*actions.HTTPRequest, error) {
	if r.Destination != "" && (d == nil || d.URL == nil) {
		return nil, fmt.Errorf("http: destination %q is not configured", r.Destination)
	}
	if !slices.Contains(methods, m.Method) {
		return nil, fmt.Errorf("http: method %q is not one of %v", m.Method, methods)
	}
	w := &actions.HTTPRequest{Method: m.Method, Body: m.Body, TimeoutMS: m.TimeoutMS}
	header := map[string]string{}
	if d == nil {
		u, err := url.Parse(m.URL)
		if err != nil || m.Path != "" || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("http: the request has no full http(s) URL and no destination")
		}
		w.URL = m.URL
	} else {
		ref, err := url.Parse(m.Path)
		if err != nil || m.URL != "" || !isPath(ref) {
			return nil, fmt.Errorf("http: the request's path is not a path to append to destination %q", r.Destination)
		}
		u := join(d.URL, ref)
		if err := checkDotSegments(u.Path); err != nil {
			return nil, err
		}
		w.URL = u.String()
		maps.Copy(header, d.Header)
		if w.TimeoutMS == 0 {
			w.TimeoutMS = d.Timeout.Milliseconds()
		}
	}
	maps.Copy(header, m.Header)
	if err := httpkit.SetIdempotencyKey(header, r.Key); err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	for k, v := range header {
		// Destination values may be secrets: name the header only.
		if !validToken(k) || badHeaderValue(v) {
			return nil, fmt.Errorf("http: header %q is not a valid header line", k)
		}
	}
	if len(header) > 0 {
		w.Header = header
	}
	return w, nil
}
