// Package webhook implements the `http` action kind: one HTTP request per
// matched event, to a URL written in the rules file.
//
// A destination holds a base URL and headers (secrets, usually):
//
//	destinations:
//	  crm: {kind: http, url: "https://crm.example.com/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
//
// and an action appends a path to it, with a JSON body built from the event:
//
//	actions:
//	  - http: {destination: crm, url: "/contacts/{{ sender.phone }}", body: {name: "{{ sender.wa_name }}"}}
//
// The scheme and host always come from the rules file. Event values placed
// in the URL are percent-encoded, query parameters are encoded as
// url.Values, JSON bodies are built by encoding/json, and a header value
// that would contain a line break is an error, never a second header.
//
// A rendered request (a Message) holds only the action's part: the method,
// the path or full URL, the action's headers and the body. It is stored in
// the delivery queue, so it never holds the destination's URL or headers;
// Wire joins the two into the actions.HTTPRequest that dry-run prints and
// the sender sends, through httpkit.Client, the HTTP sender every
// HTTP-shaped kind shares.
//
// The package is named webhook so that it does not shadow net/http.
package webhook

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

// namedTemplate is a header or query parameter and its template.
type namedTemplate struct {
	name string
	t    actions.Template
}

// renderer renders one compiled `http:` action.
type renderer struct {
	method string
	// dest is the destination the url is appended to, or nil when url is
	// a full URL whose scheme and host are scheme and host. Nothing of it
	// goes into a rendered request.
	dest         *Destination
	scheme, host string
	url          actions.Template
	// header holds the static headers of the action: Content-Type.
	header  map[string]string
	headers []namedTemplate
	query   []namedTemplate
	body    actions.Value
	rawBody actions.Template
	// rawSyntax is how raw_body's values are escaped and the result
	// checked, by its content type.
	rawSyntax rawSyntax
	timeout   time.Duration
}

// Render renders the Message for one event.
func (r *renderer) Render(env actions.Env) (actions.Request, error) {
	ref, err := r.renderURL(env)
	if err != nil {
		return actions.Request{}, err
	}
	m := Message{
		Method:    r.method,
		Header:    make(map[string]string, len(r.header)+len(r.headers)),
		TimeoutMS: r.timeout.Milliseconds(),
	}
	if r.dest != nil {
		m.Path = ref
	} else {
		m.URL = ref
	}
	maps.Copy(m.Header, r.header)
	for _, h := range r.headers {
		v, err := h.t.Render(env, headerValue)
		if err != nil {
			return actions.Request{}, fmt.Errorf("http: header %s: %w", h.name, err)
		}
		if badHeaderValue(v) {
			return actions.Request{}, fmt.Errorf("http: header %s: the value contains a line break or control character", h.name)
		}
		m.Header[h.name] = v
	}
	switch {
	case r.body.Set():
		v, err := r.body.Render(env, nil)
		if err != nil {
			return actions.Request{}, fmt.Errorf("http: body: %w", err)
		}
		data, err := actions.JSON(v)
		if err != nil {
			return actions.Request{}, fmt.Errorf("http: body: %w", err)
		}
		m.Body = string(data)
	case r.rawBody.Set():
		s, err := r.rawBody.Render(env, r.rawSyntax.escaper())
		if err != nil {
			return actions.Request{}, fmt.Errorf("http: raw_body: %w", err)
		}
		if err := r.rawSyntax.check(s); err != nil {
			return actions.Request{}, fmt.Errorf("http: %w", err)
		}
		m.Body = s
	}
	if len(m.Header) == 0 {
		m.Header = nil
	}
	data, err := actions.JSON(m)
	if err != nil {
		return actions.Request{}, fmt.Errorf("http: %w", err)
	}
	return actions.Request{Body: data}, nil
}

// renderURL renders the URL: event values are percent-encoded into the
// path and query parameters are appended. With a destination it returns
// the path and query to append to the destination's URL; without, the full
// URL, whose scheme and host are checked against those written in the
// rules file.
func (r *renderer) renderURL(env actions.Env) (string, error) {
	s, err := r.url.Render(env, PathEscape)
	if err != nil {
		return "", fmt.Errorf("http: url: %w", err)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("http: url: not a valid URL once rendered")
	}
	if r.dest != nil {
		if !isPath(u) {
			return "", fmt.Errorf("http: url: not a path once rendered")
		}
		u.Fragment, u.RawFragment = "", ""
	} else if u.Scheme != r.scheme || u.Host != r.host {
		return "", fmt.Errorf("http: url: the scheme or host changed once rendered")
	}
	if err := checkDotSegments(u.Path); err != nil {
		return "", err
	}
	if len(r.query) > 0 {
		q := url.Values{}
		for _, p := range r.query {
			v, err := p.t.Render(env, nil)
			if err != nil {
				return "", fmt.Errorf("http: query %s: %w", p.name, err)
			}
			q.Set(p.name, v)
		}
		u.RawQuery = joinQuery(u.RawQuery, q.Encode())
	}
	return u.String(), nil
}

// isPath reports whether u is only a path and query.
func isPath(u *url.URL) bool {
	return u.Scheme == "" && u.Host == "" && u.Opaque == "" && u.User == nil
}

// checkDotSegments refuses a "." or ".." path segment. Proxies and servers
// often decode %2F and %2E before they resolve dot segments, so a decoded
// ".." is refused even when it was encoded.
func checkDotSegments(path string) error {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("http: url: the path holds a %q segment once decoded", seg)
		}
	}
	return nil
}

// join appends the path and query of ref to base.
func join(base, ref *url.URL) *url.URL {
	u := *base
	if ref.Path != "" {
		u.Path = strings.TrimSuffix(base.Path, "/") + ref.Path
		u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + ref.EscapedPath()
	}
	u.RawQuery = joinQuery(base.RawQuery, ref.RawQuery)
	u.Fragment, u.RawFragment = "", ""
	return &u
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

// PathEscape percent-encodes a value taken from an event for a URL: every
// byte but the unreserved ones (letters, digits, - . _ ~), so that the value
// stays one path segment or one query value, whatever it holds.
func PathEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// jsonStringEscape escapes a value for the inside of a JSON string literal.
func jsonStringEscape(s string) string {
	data, err := actions.JSON(s)
	if err != nil || len(data) < 2 {
		return ""
	}
	return string(data[1 : len(data)-1])
}

// String describes the destination without its header values, which often
// hold secrets.
func (d *Destination) String() string {
	if d == nil || d.URL == nil {
		return "http destination"
	}
	names := make([]string, 0, len(d.Header))
	for k := range d.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	s := fmt.Sprintf("http %s://%s%s", d.URL.Scheme, d.URL.Host, d.URL.EscapedPath())
	if len(names) > 0 {
		s += " (headers " + strings.Join(names, ", ") + ": <secret>)"
	}
	return s
}

// GoString is String, so that %#v does not print secrets either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
