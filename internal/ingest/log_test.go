package ingest_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestHandler_NeverLogsToken sends every kind of request, with Debug logging
// on, and checks that neither the token nor a wrong token (often a mistyped
// real one) reaches the log, while the redacted path does (reliability.md
// (b) 11).
func TestHandler_NeverLogsToken(t *testing.T) {
	const wrong = "tok-CANARY-wrong-0d3b"
	e := newEnv(t, store.Options{MaxBytes: 4096})
	send := func(method, path string, header map[string]string, body []byte) {
		req, err := http.NewRequestWithContext(t.Context(), method, e.url(path), bytes.NewReader(body))
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		e.do(t, req)
	}
	bearer := map[string]string{"Authorization": "Bearer " + token}
	send(http.MethodPost, "/hooks/cooby/{T}", nil, payload("L1", "1"))
	send(http.MethodPost, "/hooks/cooby/{T}", nil, payload("L1", "2"))
	send(http.MethodPost, "/hooks/cooby", bearer, payload("L2", "1"))
	send(http.MethodPost, "/hooks/cooby/"+wrong, nil, payload("L3", "1"))
	send(http.MethodPost, "/hooks/cooby", map[string]string{"Authorization": "Bearer " + wrong}, payload("L3", "1"))
	send(http.MethodPost, "/hooks/cooby/{T}", nil, []byte(`{"direction":5}`))
	send(http.MethodPost, "/hooks/cooby/{T}", nil, bytes.Repeat([]byte("x"), 2<<20))
	send(http.MethodPost, "/hooks/cooby/{T}", map[string]string{"Content-Encoding": "br"}, payload("L4", "1"))
	send(http.MethodPost, "/hooks/cooby/{T}", nil, append(payload("L5", "1"), bytes.Repeat([]byte(" "), 5000)...)) // full
	send(http.MethodGet, "/hooks/cooby/{T}", nil, nil)
	send(http.MethodOptions, "/hooks/cooby/{T}", nil, nil)
	send(http.MethodPost, "/hooks/cooby/{T}/extra", nil, nil)
	send(http.MethodPost, "/HOOKS/COOBY/{T}", nil, nil)

	logs := e.logs.String()
	require.NotContains(t, logs, token)
	require.NotContains(t, logs, wrong)
	require.NotContains(t, logs, "CANARY")
	require.Contains(t, logs, "/hooks/cooby/***")
	require.Contains(t, logs, "reason=unauthorized")
	require.Contains(t, logs, "reason=store_full")
	require.Contains(t, logs, `level=DEBUG msg="cooby payload stored"`, "payloads are logged at Debug only")
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if strings.Contains(line, "hello") { // the payloads' message text
			require.Contains(t, line, "level=DEBUG", "payload text above Debug: %s", line)
		}
	}
}

func TestRedactPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/hooks/cooby/" + token, "/hooks/cooby/***"},
		{"/hooks/cooby/" + token + "/more", "/hooks/cooby/***"},
		{"/hooks/cooby/" + token + "?q=1", "/hooks/cooby/***"},
		{"/HOOKS/Cooby/" + token, "/HOOKS/Cooby/***"},
		{"/api/v1/hooks/cooby/" + token, "/api/v1/hooks/cooby/***"},
		{"/hooks/cooby", "/hooks/cooby"},
		{"/hooks/cooby/", "/hooks/cooby/"},
		{"/hooks/coobyX", "/hooks/coobyX"},
		{"/metrics", "/metrics"},
		{"", ""},
		{"/é/hooks/cooby/é", "/é/hooks/cooby/***"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, ingest.RedactPath(tt.in))
		})
	}
}

func TestNewServer_Timeouts(t *testing.T) {
	h := http.NotFoundHandler()
	s := ingest.NewServer(":8080", h)
	require.Equal(t, ":8080", s.Addr)
	require.NotNil(t, s.Handler)
	require.Equal(t, 5*time.Second, s.ReadHeaderTimeout)
	require.Equal(t, 30*time.Second, s.ReadTimeout)
	require.Equal(t, 30*time.Second, s.WriteTimeout)
	require.Equal(t, 120*time.Second, s.IdleTimeout)
	require.Equal(t, 64<<10, s.MaxHeaderBytes)
}

func TestNew_NilStorePanics(t *testing.T) {
	require.PanicsWithValue(t, "ingest: Options.Store is nil", func() { ingest.New(ingest.Options{}) })
}
