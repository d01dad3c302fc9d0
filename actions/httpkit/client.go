package httpkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/switchboard-dev/switchboard/actions"
)

// Defaults of SenderOptions' zero values.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	DefaultUserAgent        = "switchboard"
)

// Client sends the wire form of HTTP-shaped kinds (http, slack): one
// attempt per call, since the delivery queue owns retries. It never follows
// a redirect, keeps no cookies, reads at most MaxResponseBytes of an
// answer, and its errors and logs never hold the URL or a header value,
// which may carry secrets. It is safe for concurrent use; build one per
// destination and reuse it.
type Client struct {
	rc        *resty.Client
	transport *http.Transport
	timeout   time.Duration
	limit     int64
	agent     string
	log       *slog.Logger
}

// Response is an HTTP answer: its status, headers and the start of its
// body (at most the client's MaxResponseBytes).
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// wireKey carries the request being sent to the pre-request hook.
type wireKey struct{}

// NewClient builds a client with its own connection pool.
func NewClient(o actions.SenderOptions) *Client {
	c := &Client{timeout: o.Timeout, limit: o.MaxResponseBytes, agent: o.UserAgent, log: o.Logger}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.limit <= 0 {
		c.limit = DefaultMaxResponseBytes
	}
	if c.agent == "" {
		c.agent = DefaultUserAgent
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	// The guard checks the address dialled: behind a proxy
	// (HTTPS_PROXY), that is the proxy's, and the proxy decides the rest.
	dialer := o.Egress.Dialer(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second})
	c.transport = &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   32,
		MaxConnsPerHost:       64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A backstop: every attempt also has a deadline (see Do).
		ResponseHeaderTimeout: max(c.timeout, MaxTimeout),
	}
	c.rc = resty.NewWithClient(&http.Client{Transport: c.transport}).
		SetCookieJar(nil).
		SetRetryCount(0).
		SetRedirectPolicy(resty.NoRedirectPolicy()).
		SetDoNotParseResponse(true).
		SetLogger(quietLogger{}).
		SetDisableWarn(true).
		SetPreRequestHook(exactHeaders(c.agent))
	return c
}

// exactHeaders makes the headers sent exactly those of the wire form, plus
// User-Agent: resty would add Accept or guess a Content-Type, and dry-run
// must print what is sent.
func exactHeaders(agent string) resty.PreRequestHook {
	return func(_ *resty.Client, hr *http.Request) error {
		w, _ := hr.Context().Value(wireKey{}).(*actions.HTTPRequest)
		if w == nil {
			return errors.New("httpkit: request sent without its wire form")
		}
		h := make(http.Header, len(w.Header)+1)
		for k, v := range w.Header {
			h[k] = []string{v}
		}
		h.Set("User-Agent", agent)
		hr.Header = h
		return nil
	}
}

// CloseIdleConnections closes the client's idle connections.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Do sends w once and returns the answer, whatever its status. A request
// that got no answer (connection refused, timeout, reset) returns a
// retryable error such as `POST to destination "crm": timeout`; name names
// the destination ("" for an action without one: its host is named). The
// attempt is bounded by w.TimeoutMS, or the client's timeout, and by ctx.
func (c *Client) Do(ctx context.Context, name string, w *actions.HTTPRequest) (*Response, error) {
	timeout := c.timeout
	if w.TimeoutMS > 0 {
		timeout = time.Duration(w.TimeoutMS) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	req := c.rc.R().SetContext(context.WithValue(ctx, wireKey{}, w))
	if w.Body != "" {
		req.SetBody([]byte(w.Body))
	}
	resp, err := req.Execute(w.Method, w.URL)
	var raw *http.Response
	if resp != nil {
		raw = resp.RawResponse
	}
	if err != nil && !(raw != nil && errors.Is(err, resty.ErrAutoRedirectDisabled)) {
		if raw != nil {
			raw.Body.Close()
		}
		return nil, c.transportError(ctx, name, w, err)
	}
	out := &Response{Status: raw.StatusCode, Header: raw.Header}
	if err == nil {
		// Read at most limit bytes, then close: a larger body is cut, and
		// its connection dropped rather than drained. A read error keeps
		// what was read: the status is the answer.
		out.Body, _ = io.ReadAll(io.LimitReader(raw.Body, c.limit))
		raw.Body.Close()
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "http request sent",
		slog.String("destination", name), slog.String("method", w.Method),
		slog.Int("status", out.Status), slog.Duration("duration", time.Since(start)))
	return out, nil
}

// Check classifies an answer with actions.CheckHTTP. The body kept in the
// error is cut, stripped of control characters and of the request's
// secrets (a receiver may echo the URL or a header).
func (c *Client) Check(w *actions.HTTPRequest, resp *Response) error {
	if resp.Status >= 200 && resp.Status < 300 {
		return nil
	}
	return actions.CheckHTTP(resp.Status, resp.Header, []byte(Snippet(w, resp.Body)), time.Now())
}

// target names where a request goes without its URL: the destination, or
// the host of an action without one (written in the rules file, so never
// a secret).
func target(name string, w *actions.HTTPRequest) string {
	if name != "" {
		return fmt.Sprintf("destination %q", name)
	}
	if u, err := url.Parse(w.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "the action's URL"
}

// quietLogger drops resty's log lines: they hold full URLs.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}

// Target names where a request goes without its URL, for errors: the
// destination name, or the host of an action without one.
func Target(name string, w *actions.HTTPRequest) string { return target(name, w) }
