package actionstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
)

// NewSender builds kind's sender for the destination of r (none: the
// sender of actions without a destination).
func NewSender(t testing.TB, kind actions.Deliverer, rs *engine.RuleSet, r actions.Request, o actions.SenderOptions) actions.Sender {
	t.Helper()
	var dest any
	if r.Destination != "" {
		dest = rs.Destinations[r.Destination].Config
	}
	s, err := kind.NewSender(dest, o)
	require.NoError(t, err)
	return s
}

// DebugLogger returns a logger that writes every record, debug included,
// as text to w.
func DebugLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// AssertSendLeaksNoSecret sends r with s, which must fail, and checks that
// neither the error nor logs (what s logged) shows any of secrets. It
// returns the error for further checks.
func AssertSendLeaksNoSecret(t testing.TB, s actions.Sender, r actions.Request, logs *bytes.Buffer, secrets ...string) error {
	t.Helper()
	err := s.Send(context.Background(), r)
	require.Error(t, err)
	for _, secret := range secrets {
		require.NotContains(t, err.Error(), secret)
		require.NotContains(t, logs.String(), secret)
	}
	return err
}

// RequireFailure checks how a failed send is classified: permanent or not,
// and the wait it asks for before a retry (0: it asks for none).
func RequireFailure(t testing.TB, err error, permanent bool, retryAfter time.Duration) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, permanent, actions.IsPermanent(err), err.Error())
	var later *actions.RetryAfterError
	require.Equal(t, retryAfter != 0, errors.As(err, &later), err.Error())
	if later != nil {
		require.Equal(t, retryAfter, later.After)
	}
}

// Received is one request as a sink saw it.
type Received struct {
	Method, URL string
	Header      http.Header
	Body        string
}

// NewSink starts a loopback HTTP server that records every request, then
// lets respond answer it (nil: 200 with no body). It is closed when the
// test ends.
func NewSink(t testing.TB, respond http.HandlerFunc) (*httptest.Server, <-chan Received) {
	t.Helper()
	ch := make(chan Received, 256)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ch <- Received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)}
		if respond != nil {
			respond(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// Reply answers with code, header and body.
func Reply(code int, header map[string]string, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

// transportHeaders are set by the HTTP client, not by Wire.
var transportHeaders = []string{"User-Agent", "Content-Length", "Accept-Encoding"}

// RequireSentAsWired checks that a sink received exactly the wire form:
// its method, URL, body and headers, and no other header but those the
// HTTP client adds.
func RequireSentAsWired(t testing.TB, w *actions.HTTPRequest, got Received) {
	t.Helper()
	require.Equal(t, w.Method, got.Method)
	require.Equal(t, w.URL, got.URL)
	header := map[string]string{}
	for k, v := range got.Header {
		if !slices.Contains(transportHeaders, k) {
			header[k] = strings.Join(v, ", ")
		}
	}
	want := w.Header
	if want == nil {
		want = map[string]string{}
	}
	require.Equal(t, want, header)
	require.Equal(t, w.Body, got.Body)
}

// FreeAddr returns a loopback address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
