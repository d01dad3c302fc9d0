package ingest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestHandler_Requests covers the transport attacks and payload shapes of
// reliability.md (b) 1-13 against a real store: for each request, the
// status, the headers, whether an event was stored or the body quarantined,
// the metrics, and that the store still accepts a valid post afterwards.
func TestHandler_Requests(t *testing.T) {
	sample := payload("3EB0C1", "6580000001")
	sample2MiB := append(append([]byte(`{"message":{"text":"`), bytes.Repeat([]byte("x"), 2<<20)...), `"}}`...)

	type tc struct {
		name   string
		method string // default POST
		path   string // {T} is the token; default /hooks/cooby/{T}
		header map[string]string
		body   []byte
		// chunked sends the body without Content-Length.
		chunked bool
		// raw, if set, sends the request itself over TCP and returns the answer.
		raw func(t *testing.T, addr string) *http.Response

		want       int
		wantHeader map[string]string
		// reason is the expected OnRejected reason ("" for success).
		reason string
		// stored is the expected stored body (nil: nothing stored).
		stored      []byte
		quarantined bool
		// errContains, if set, must be in the answer's "error".
		errContains string
	}
	tests := []tc{
		// Authentication (1).
		{name: "wrong token in path", path: "/hooks/cooby/wrong-token", body: sample,
			want: 401, reason: ingest.ReasonUnauthorized, wantHeader: map[string]string{"WWW-Authenticate": `Bearer realm="switchboard"`}},
		{name: "token prefix in path", path: "/hooks/cooby/" + token[:len(token)-1], body: sample,
			want: 401, reason: ingest.ReasonUnauthorized},
		{name: "no token", path: "/hooks/cooby", body: sample, want: 401, reason: ingest.ReasonUnauthorized},
		{name: "wrong bearer token", path: "/hooks/cooby", header: map[string]string{"Authorization": "Bearer nope"},
			body: sample, want: 401, reason: ingest.ReasonUnauthorized},
		{name: "basic auth is no token", path: "/hooks/cooby", header: map[string]string{"Authorization": "Basic " + token},
			body: sample, want: 401, reason: ingest.ReasonUnauthorized},
		{name: "bearer token OK", path: "/hooks/cooby", header: map[string]string{"Authorization": "Bearer " + token},
			body: sample, want: 202, stored: sample},
		{name: "bearer scheme is case-insensitive", path: "/hooks/cooby/", header: map[string]string{"Authorization": "bearer " + token},
			body: sample, want: 202, stored: sample},
		{name: "token in path OK", body: sample, want: 202, stored: sample},
		{name: "unknown path", path: "/hooks/other/{T}", body: sample, want: 404, reason: ingest.ReasonNotFound},
		{name: "extra path segment", path: "/hooks/cooby/{T}/x", body: sample, want: 404, reason: ingest.ReasonNotFound},

		// Methods (7).
		{name: "GET", method: http.MethodGet, want: 405, reason: ingest.ReasonMethod,
			wantHeader: map[string]string{"Allow": "POST, OPTIONS"}},
		{name: "PUT", method: http.MethodPut, body: sample, want: 405, reason: ingest.ReasonMethod,
			wantHeader: map[string]string{"Allow": "POST, OPTIONS"}},
		{name: "DELETE", method: http.MethodDelete, want: 405, reason: ingest.ReasonMethod,
			wantHeader: map[string]string{"Allow": "POST, OPTIONS"}},

		// CORS (8, 9).
		{name: "OPTIONS preflight from WhatsApp Web", method: http.MethodOptions,
			header: map[string]string{
				"Origin": "https://web.whatsapp.com", "Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers": "content-type",
			},
			want: 204, wantHeader: map[string]string{
				"Access-Control-Allow-Methods": "POST, OPTIONS",
				"Access-Control-Allow-Headers": "content-type",
				"Access-Control-Max-Age":       "7200",
			}},
		{name: "OPTIONS preflight without token", method: http.MethodOptions, path: "/hooks/cooby",
			header: map[string]string{
				"Origin": "https://web.whatsapp.com", "Access-Control-Request-Method": "POST",
				"Access-Control-Request-Headers":         "Content-Type, Authorization, X-Custom",
				"Access-Control-Request-Private-Network": "true",
			},
			want: 204, wantHeader: map[string]string{
				"Access-Control-Allow-Headers":         "Content-Type, Authorization, X-Custom",
				"Access-Control-Allow-Private-Network": "true",
			}},
		{name: "OPTIONS preflight asking for odd headers", method: http.MethodOptions,
			header: map[string]string{"Origin": "https://web.whatsapp.com", "Access-Control-Request-Headers": "x(y), a b"},
			want:   204, wantHeader: map[string]string{"Access-Control-Allow-Headers": "Content-Type, Authorization"}},
		{name: "successful POST from a browser origin", body: sample,
			header: map[string]string{"Origin": "https://web.whatsapp.com"}, want: 202, stored: sample},

		// Size (2, 3).
		{name: "2 MiB body", body: sample2MiB, want: 413, reason: ingest.ReasonTooLarge},
		{name: "2 MiB chunked body", body: sample2MiB, chunked: true, want: 413, reason: ingest.ReasonTooLarge},
		{name: "Content-Length 100 then 5 MB chunked", raw: lyingChunked, want: 413, reason: ingest.ReasonTooLarge},
		{name: "Content-Length shorter than the body", raw: lyingShort(sample), want: 400,
			reason: ingest.ReasonInvalid, quarantined: true, errContains: "not valid JSON"},

		// Encoding (4, 10).
		{name: "gzip bomb", header: map[string]string{"Content-Encoding": "gzip"}, body: gzipBomb(t),
			want: 413, reason: ingest.ReasonTooLarge},
		{name: "valid gzip body", header: map[string]string{"Content-Encoding": "gzip"}, body: gzipped(t, sample),
			want: 202, stored: sample},
		{name: "x-gzip body", header: map[string]string{"Content-Encoding": "x-gzip"}, body: gzipped(t, sample),
			want: 202, stored: sample},
		{name: "gzip header on plain bytes", header: map[string]string{"Content-Encoding": "gzip"}, body: sample,
			want: 400, reason: ingest.ReasonInvalid, quarantined: true, errContains: "gzip"},
		{name: "identity encoding", header: map[string]string{"Content-Encoding": "identity"}, body: sample,
			want: 202, stored: sample},
		{name: "unknown Content-Encoding", header: map[string]string{"Content-Encoding": "br"}, body: sample,
			want: 415, reason: ingest.ReasonEncoding},
		{name: "gzip twice", header: map[string]string{"Content-Encoding": "gzip, gzip"}, body: gzipped(t, gzipped(t, sample)),
			want: 415, reason: ingest.ReasonEncoding},
		{name: "text/plain with a JSON body", header: map[string]string{"Content-Type": "text/plain;charset=UTF-8"},
			body: sample, want: 202, stored: sample},
		{name: "form content type with a JSON body", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			body: sample, want: 202, stored: sample},

		// Not a Cooby payload (12, 13).
		{name: "truncated JSON", body: sample[:len(sample)/2], want: 400, reason: ingest.ReasonInvalid,
			quarantined: true, errContains: "not valid JSON"},
		{name: "JSON array", body: []byte(`[{"direction":"sent"}]`), want: 400, reason: ingest.ReasonInvalid,
			quarantined: true, errContains: "array"},
		{name: "wrong field type", body: []byte(`{"direction":5}`), want: 400, reason: ingest.ReasonInvalid,
			quarantined: true, errContains: "direction"},
		{name: "message is a string", body: []byte(`{"message":"hi"}`), want: 400, reason: ingest.ReasonInvalid,
			quarantined: true, errContains: "message"},
		{name: "empty body", body: nil, want: 400, reason: ingest.ReasonInvalid, quarantined: true, errContains: "empty"},
		{name: "100,000 nested brackets", body: bytes.Repeat([]byte("["), 100_000), want: 400,
			reason: ingest.ReasonInvalid, quarantined: true},
		{name: "100,000 nested objects", body: []byte(`{"message":` + strings.Repeat(`{"a":`, 100_000)), want: 400,
			reason: ingest.ReasonInvalid, quarantined: true},

		// Shapes that are accepted (16, 18).
		{name: "empty object", body: []byte(`{}`), want: 202, stored: []byte(`{}`)},
		{name: "number timestamp and unknown fields", body: []byte(`{"timestamp":1628843453,"extra":[1,2]}`),
			want: 202, stored: []byte(`{"timestamp":1628843453,"extra":[1,2]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, store.Options{})
			var res response
			if tt.raw != nil {
				hres := tt.raw(t, e.srv.Listener.Addr().String())
				defer hres.Body.Close()
				res = readResponse(t, hres)
			} else {
				method, path := tt.method, tt.path
				if method == "" {
					method = http.MethodPost
				}
				if path == "" {
					path = "/hooks/cooby/{T}"
				}
				var body io.Reader
				if tt.body != nil {
					body = bytes.NewReader(tt.body)
				}
				req, err := http.NewRequestWithContext(t.Context(), method, e.url(path), body)
				require.NoError(t, err)
				if tt.chunked {
					req.ContentLength = -1
					req.Body = io.NopCloser(bytes.NewReader(tt.body))
				}
				if method == http.MethodPost {
					req.Header.Set("Content-Type", "application/json")
				}
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				res = e.do(t, req)
			}

			require.Equal(t, tt.want, res.Status, "answer %s", res.Body)
			require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"), "every answer carries ACAO")
			for k, v := range tt.wantHeader {
				require.Equal(t, v, res.Header.Get(k), "header %s", k)
			}
			if tt.errContains != "" {
				require.Contains(t, res.JSON.Error, tt.errContains)
			}
			if res.Status >= 400 {
				require.NotEmpty(t, res.JSON.Error)
				require.Zero(t, res.JSON.ID)
			}

			evs := e.events(t)
			if tt.stored == nil {
				require.Empty(t, evs, "nothing stored")
				require.Zero(t, e.notified.Load())
			} else {
				require.Len(t, evs, 1)
				require.Equal(t, tt.stored, evs[0].Body, "stored byte-exact")
				require.Equal(t, evs[0].ID, res.JSON.ID)
				require.False(t, res.JSON.Duplicate)
				require.EqualValues(t, 1, e.notified.Load())
			}
			q := e.quarantined(t)
			if tt.quarantined {
				require.Len(t, q, 1)
				require.Equal(t, q[0].ID, res.JSON.QuarantineID)
				require.Equal(t, res.JSON.Error, q[0].Reason)
				require.NotContains(t, q[0].Reason, token)
			} else {
				require.Empty(t, q, "nothing quarantined")
				require.Zero(t, res.JSON.QuarantineID)
			}

			accepted, dup, _, rejected := e.metrics.snapshot()
			require.Zero(t, dup)
			switch {
			case tt.reason != "":
				require.Equal(t, map[string]int{tt.reason: 1}, rejected)
				require.Zero(t, accepted)
			case tt.stored != nil:
				require.Empty(t, rejected)
				require.Equal(t, 1, accepted)
			default: // preflight
				require.Empty(t, rejected)
				require.Zero(t, accepted)
			}

			// The store still takes a valid post.
			after := e.post(t, payload("AFTER-"+tt.name, "6580000009"))
			require.Equal(t, http.StatusAccepted, after.Status, "answer %s", after.Body)
			require.Len(t, e.events(t), len(evs)+1)
		})
	}
}

// lyingChunked announces Content-Length: 100 but sends 5 MB chunked
// (Transfer-Encoding wins, RFC 9112 6.3).
func lyingChunked(t *testing.T, addr string) *http.Response {
	t.Helper()
	conn := dialT(t, addr)
	go func() {
		w := bufio.NewWriter(conn)
		fmt.Fprintf(w, "POST /hooks/cooby/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n", token)
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		for sent := 0; sent < 5_000_000; sent += len(chunk) {
			fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk)
		}
		fmt.Fprint(w, "0\r\n\r\n")
		_ = w.Flush() // fails once the server stops reading: expected
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	return res
}

// lyingShort announces fewer bytes than it sends: the server reads only the
// announced prefix, which is not a whole payload.
func lyingShort(body []byte) func(t *testing.T, addr string) *http.Response {
	return func(t *testing.T, addr string) *http.Response {
		t.Helper()
		conn := dialT(t, addr)
		_, err := fmt.Fprintf(conn, "POST /hooks/cooby/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"Content-Length: 20\r\n\r\n%s", token, body)
		require.NoError(t, err)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		return res
	}
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, conn.SetDeadline(time.Now().Add(time.Minute))) // a hang fails instead of blocking
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestHandler_Samples posts every sample payload: each is stored byte-exact.
func TestHandler_Samples(t *testing.T) {
	files, err := filepath.Glob("../../testdata/cooby/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	e := newEnv(t, store.Options{})
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			require.NoError(t, err)
			res := e.post(t, body)
			require.Equal(t, http.StatusAccepted, res.Status, "answer %s", res.Body)
			evs, err := e.st.ReadEvents(t.Context(), res.JSON.ID-1, 1)
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, res.JSON.ID, evs[0].ID)
			require.Equal(t, body, evs[0].Body)
		})
	}
	require.Empty(t, e.quarantined(t))
}

// TestHandler_Register mounts the handler on a ServeMux.
func TestHandler_Register(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir(), store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	mux := http.NewServeMux()
	ingest.New(ingest.Options{Store: st, Tokens: []string{token}}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	send := func(method, path, auth string, body []byte) int {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusAccepted, send(http.MethodPost, "/hooks/cooby/"+token, "", payload("REG1", "1")))
	require.Equal(t, http.StatusAccepted, send(http.MethodPost, "/hooks/cooby", "Bearer "+token, payload("REG2", "1")))
	require.Equal(t, http.StatusNoContent, send(http.MethodOptions, "/hooks/cooby/"+token, "", nil))
	require.Equal(t, http.StatusNoContent, send(http.MethodOptions, "/hooks/cooby", "", nil))
	require.Equal(t, http.StatusMethodNotAllowed, send(http.MethodGet, "/hooks/cooby/"+token, "", nil))
	require.Equal(t, http.StatusUnauthorized, send(http.MethodPost, "/hooks/cooby/x", "", payload("REG3", "1")))
	evs, err := st.ReadEvents(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
}
