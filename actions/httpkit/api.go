package httpkit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// CheckAPIURL checks a URL written in a destination (an API base URL, a
// webhook URL): absolute, https, or http to a loopback host (a local test
// server), and no template. The URL may be a secret: problems never quote
// it. It returns the URL without a trailing slash.
func CheckAPIURL(b *actions.Block, at *yaml.Node, field, s string) string {
	if strings.Contains(s, "{{") {
		b.Errorf(at, "%s cannot be a template", field)
		return ""
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		b.Errorf(at, "%s is not a valid URL", field)
	case u.Host == "":
		b.Errorf(at, "%s must be an absolute https:// URL", field)
	case u.Fragment != "":
		b.Errorf(at, "%s: a #fragment is never sent; remove it", field)
	case u.Scheme == "https", u.Scheme == "http" && isLoopback(u.Hostname()):
		return strings.TrimSuffix(s, "/")
	default:
		b.Errorf(at, "%s must start with https:// (http:// is allowed only for localhost)", field)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckToken checks a credential written in a destination (a bot token, a
// private-app token): set, one word, no control character. It never
// prints the value.
func CheckToken(b *actions.Block, at *yaml.Node, field, s string) {
	switch {
	case s == "":
		b.Errorf(at, "%s is required", field)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }):
		b.Errorf(at, "%s contains a space or control character", field)
	}
}

// JSONRequest is a POST (or another method) of body, encoded with
// actions.JSON, to u, with the Idempotency-Key header from key and the
// given headers.
func JSONRequest(method, u string, body any, key string, header map[string]string) (*actions.HTTPRequest, error) {
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range header {
		if !ValidToken(k) || BadHeaderValue(v) {
			return nil, fmt.Errorf("header %q is not a valid header line", k)
		}
		h[k] = v
	}
	if err := SetIdempotencyKey(h, key); err != nil {
		return nil, err
	}
	w := &actions.HTTPRequest{Method: method, URL: u, Header: h}
	if body != nil {
		data, err := actions.JSON(body)
		if err != nil {
			return nil, err
		}
		w.Body = string(data)
	}
	return w, nil
}

// API is a Client for a JSON API whose credentials may not all be in
// the request's headers or URL path segments (a token inside a segment,
// a token exchanged for another): Secrets are scrubbed from every answer
// kept in an error too.
type API struct {
	*Client
	Secrets []string
}

// Call sends w once with c and classifies the answer with Check; a 2xx
// answer's body is decoded into out (nil: ignored). what names the
// request in errors ("telegram: sendMessage to destination \"ops\"").
// classify, if set, sees a non-2xx answer first: it returns the kind's own
// classification of it, or nil to fall back to Check.
func (c *API) Call(ctx context.Context, name, what string, w *actions.HTTPRequest, out any, classify func(*Response) error) (*Response, error) {
	resp, err := c.Do(ctx, name, w)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if resp.Status < 200 || resp.Status > 299 {
		// Answers may echo a credential: scrub it before anything reads
		// the body.
		cp := *resp
		cp.Body = []byte(scrub(string(resp.Body), c.Secrets))
		resp = &cp
		if classify != nil {
			if err := classify(resp); err != nil {
				return resp, fmt.Errorf("%s: %w", what, err)
			}
		}
		return resp, fmt.Errorf("%s: %w", what, c.Check(w, resp))
	}
	if out != nil && len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("%s: the answer is not the JSON expected: %w", what, err)
		}
	}
	return resp, nil
}

// Where names a destination in errors.
func Where(name string) string {
	if name == "" {
		return "an action without destination"
	}
	return fmt.Sprintf("destination %q", name)
}

// HTTPClient is a net/http client on c's transport (the same egress guard
// and connection pool) that follows no redirect, for libraries that make
// requests of their own, such as an OAuth token exchange.
func (c *Client) HTTPClient() *http.Client {
	return &http.Client{
		Transport:     c.transport,
		Timeout:       c.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
