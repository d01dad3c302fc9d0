package ingest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// token is the accepted token, a canary that must never reach a log line.
const token = "tok-CANARY-5f1e9a7c2b"

// env is a loopback server around the handler, with a real store.
type env struct {
	srv      *httptest.Server
	st       *store.Store
	logs     *syncBuffer
	metrics  *counters
	notified atomic.Int64
}

// newEnv starts the handler (mounted as the whole server, so it also routes
// unknown paths) over a store in a fresh directory.
func newEnv(t *testing.T, sopt store.Options, mutate ...func(*ingest.Options)) *env {
	t.Helper()
	if sopt.Logger == nil {
		sopt.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(t.Context(), t.TempDir(), sopt)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })

	e := &env{st: st, logs: &syncBuffer{}, metrics: &counters{rejected: map[string]int{}}}
	opt := ingest.Options{
		Store:   st,
		Tokens:  []string{"other-token-1", token, "other-token-2"},
		Notify:  func(int64, *engine.Event) { e.notified.Add(1) },
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: e.metrics.hooks(),
	}
	for _, m := range mutate {
		m(&opt)
	}
	e.srv = httptest.NewServer(ingest.New(opt))
	t.Cleanup(e.srv.Close)
	return e
}

// url returns the server URL of path, with {T} replaced by the token.
func (e *env) url(path string) string {
	return e.srv.URL + strings.ReplaceAll(path, "{T}", token)
}

// response is an answer, its body read and decoded.
type response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   answer
}

// answer is the JSON body of every answer.
type answer struct {
	ID           int64  `json:"id"`
	Duplicate    bool   `json:"duplicate"`
	Error        string `json:"error"`
	QuarantineID int64  `json:"quarantine_id"`
}

// do sends req and reads the answer; a non-204 answer must be JSON.
func (e *env) do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	return readResponse(t, res)
}

func readResponse(t *testing.T, res *http.Response) response {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	r := response{Status: res.StatusCode, Header: res.Header, Body: body}
	if res.StatusCode != http.StatusNoContent {
		require.Equal(t, "application/json", res.Header.Get("Content-Type"), "status %d", res.StatusCode)
		require.NoError(t, json.Unmarshal(body, &r.JSON), "body %q", body)
	}
	return r
}

// post sends body to the token path.
func (e *env) post(t *testing.T, body []byte) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url("/hooks/cooby/{T}"), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	return e.do(t, req)
}

// events returns every stored event.
func (e *env) events(t *testing.T) []store.Event {
	t.Helper()
	evs, err := e.st.ReadEvents(t.Context(), 0, 10_000)
	require.NoError(t, err)
	return evs
}

// quarantined returns every quarantined body, newest first.
func (e *env) quarantined(t *testing.T) []store.Quarantined {
	t.Helper()
	q, err := e.st.ListQuarantine(t.Context(), 1000)
	require.NoError(t, err)
	return q
}

// payload is a valid Cooby payload for message id sent to the team member
// with phone.
func payload(id, phone string) []byte {
	return fmt.Appendf(nil, `{"chat_id":"6591234567@c.us","chat_type":"individual","chat_title":"Ann",`+
		`"user_phone":%q,"user_email":"agent@example.com","direction":"received",`+
		`"message":{"id":%q,"type":"chat","text":"hello"},"timestamp":"1628843453",`+
		`"sender":{"phone":"6591234567","wa_name":"Ann"}}`, phone, id)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// gzipBomb is about 100 KB of gzip that decodes to 100 MiB of zeros: one
// member of 1 MiB zeros (about 1 KB) repeated, which gzip readers decode as
// one stream.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(make([]byte, 1<<20))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return bytes.Repeat(buf.Bytes(), 100)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// counters records the metric hooks.
type counters struct {
	mu                            sync.Mutex
	accepted, duplicate, fullHits int
	rejected                      map[string]int
}

func (c *counters) hooks() ingest.Metrics {
	return ingest.MetricsFuncs{
		Accepted:  func() { c.mu.Lock(); c.accepted++; c.mu.Unlock() },
		Duplicate: func() { c.mu.Lock(); c.duplicate++; c.mu.Unlock() },
		Rejected:  func(r string) { c.mu.Lock(); c.rejected[r]++; c.mu.Unlock() },
		StoreFull: func() { c.mu.Lock(); c.fullHits++; c.mu.Unlock() },
	}
}

// snapshot returns accepted, duplicate, store-full counts and the rejections.
func (c *counters) snapshot() (accepted, duplicate, full int, rejected map[string]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rej := make(map[string]int, len(c.rejected))
	for k, v := range c.rejected {
		rej[k] = v
	}
	return c.accepted, c.duplicate, c.fullHits, rej
}
