package webhook_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/actionstest"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// TestSendIsWhatWireSays: the sink receives exactly the wire form that
// dry-run prints: method, URL, headers and body.
func TestSendIsWhatWireSays(t *testing.T) {
	srv, got := actionstest.NewSink(t, nil)
	tests := []struct{ name, action string }{
		{"json body", `{destination: crm, url: "/contacts/{{ sender.phone }}", body: {name: "{{ sender.wa_name }}", text: "{{ text }}"}}`},
		{"form body", `{destination: crm, method: PUT, url: "/notes/{{ text }}", content_type: application/x-www-form-urlencoded, raw_body: "t={{ text }}"}`},
		{"query", `{destination: crm, method: GET, url: "/search?v=1", query: {q: "{{ text }}"}}`},
		{"no body", `{destination: crm, method: DELETE, url: "/x", headers: {X-Reason: "{{ chat_title }}", Authorization: "Token mine"}}`},
		{"full url", `{url: "` + srv.URL + `/hook/{{ message.id }}", body: {a: 1}, timeout: 2s}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := actionstest.Load(t, crmRules(tt.action), crmEnv(srv.URL+"/api/"))
			r := renderRequest(t, rs, actionstest.WithText(`a/b?c=d&e #f "g" <h> é`))
			wire, err := rs.Wire(r)
			require.NoError(t, err)
			w := wire.(*actions.HTTPRequest)

			require.NoError(t, newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r))
			sent := <-got
			actionstest.RequireSentAsWired(t, w, sent)
			require.Equal(t, r.Key, sent.Header.Get("Idempotency-Key"))
			require.Equal(t, "switchboard", sent.Header.Get("User-Agent"))
			require.Empty(t, sent.Header.Get("Accept"), "no header beyond the wire form")
		})
	}
}

func TestUserAgentAndNoCookies(t *testing.T) {
	srv, got := actionstest.NewSink(t, func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
	})
	rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}}`), crmEnv(srv.URL))
	r := renderRequest(t, rs, actionstest.BasePayload())
	s := newSender(t, rs, r, actions.SenderOptions{UserAgent: "sb-test/1"})
	for range 2 {
		require.NoError(t, s.Send(context.Background(), r))
		sent := <-got
		require.Equal(t, "sb-test/1", sent.Header.Get("User-Agent"))
		require.Empty(t, sent.Header.Get("Cookie"), "cookies are never sent back")
	}
}

// TestClassification: how answers become delivery outcomes.
func TestClassification(t *testing.T) {
	tests := []struct {
		name       string
		respond    http.HandlerFunc
		ok         bool
		permanent  bool
		status     int
		retryAfter time.Duration
	}{
		{name: "200", respond: func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }, ok: true},
		{name: "204", respond: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, ok: true},
		{name: "500", respond: status(500, nil), status: 500},
		{name: "502", respond: status(502, nil), status: 502},
		{name: "408", respond: status(408, nil), status: 408},
		{name: "404", respond: status(404, nil), status: 404, permanent: true},
		{name: "400", respond: status(400, nil), status: 400, permanent: true},
		{name: "301 is not followed", respond: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
		}, status: 301, permanent: true},
		{name: "429 Retry-After 7", respond: status(429, map[string]string{"Retry-After": "7"}), status: 429, retryAfter: 7 * time.Second},
		{name: "429 without Retry-After", respond: status(429, nil), status: 429, retryAfter: 30 * time.Second},
		{name: "503 Retry-After 120", respond: status(503, map[string]string{"Retry-After": "120"}), status: 503, retryAfter: 120 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, got := actionstest.NewSink(t, tt.respond)
			rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}}`), crmEnv(srv.URL+"/api"))
			r := renderRequest(t, rs, actionstest.BasePayload())
			err := newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r)
			require.Equal(t, "http://"+srv.Listener.Addr().String()+"/api", (<-got).URL)
			require.Empty(t, got, "exactly one request (redirects are not followed)")
			if tt.ok {
				require.NoError(t, err)
				return
			}
			actionstest.RequireFailure(t, err, tt.permanent, tt.retryAfter)
			require.Equal(t, tt.status, actions.StatusCode(err))
			require.Contains(t, err.Error(), `POST to destination "crm": HTTP `)
		})
	}
}

// status answers code with headers and a short body.
func status(code int, header map[string]string) http.HandlerFunc {
	return actionstest.Reply(code, header, fmt.Sprintf("status %d\n", code))
}

func TestTimeouts(t *testing.T) {
	srv, _ := actionstest.NewSink(t, func(w http.ResponseWriter, r *http.Request) { waitOrDone(r, 10*time.Second) })
	tests := []struct {
		name   string
		action string
		o      actions.SenderOptions
	}{
		{"the action's timeout", `{destination: crm, body: {a: 1}, timeout: 50ms}`, actions.SenderOptions{}},
		{"the sender's default", `{destination: crm, body: {a: 1}}`, actions.SenderOptions{Timeout: 50 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := actionstest.Load(t, crmRules(tt.action), crmEnv(srv.URL+"/hooks/"+canary))
			r := renderRequest(t, rs, actionstest.BasePayload())
			err := newSender(t, rs, r, tt.o).Send(context.Background(), r)
			require.EqualError(t, err, `POST to destination "crm": timeout`)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.False(t, actions.IsPermanent(err))
		})
	}
	t.Run("a cancelled context", func(t *testing.T) {
		rs := actionstest.Load(t, crmRules(`{destination: crm}`), crmEnv(srv.URL))
		r := renderRequest(t, rs, actionstest.BasePayload())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := newSender(t, rs, r, actions.SenderOptions{}).Send(ctx, r)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, actions.IsPermanent(err))
	})
}

func TestConnectionRefused(t *testing.T) {
	rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}}`), crmEnv("http://"+actionstest.FreeAddr(t)+"/hooks/"+canary+"?token="+canary))
	r := renderRequest(t, rs, actionstest.BasePayload())
	err := newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r)
	require.EqualError(t, err, `POST to destination "crm": connection refused`)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.False(t, actions.IsPermanent(err))

	// Without a destination, the host (written in the rules file) is named.
	addr := actionstest.FreeAddr(t)
	rs = actionstest.Load(t, crmRulesNoDest(`{url: "http://`+addr+`/x", body: {a: 1}}`), nil)
	r = renderRequest(t, rs, actionstest.BasePayload())
	err = newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r)
	require.EqualError(t, err, `POST to `+addr+`: connection refused`)
}

// crmRulesNoDest is a rules file with one action and no destination.
func crmRulesNoDest(action string) string {
	return "rules:\n  - {name: r, when: \"true\", actions: [http: " + action + "]}\n"
}

// TestSecretsNeverShow: a canary secret in the destination's URL and
// headers never shows in an error, a StatusError body or a log line,
// whatever happens to the request.
func TestSecretsNeverShow(t *testing.T) {
	echo := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", "http://evil.example/"+canary)
			w.WriteHeader(code)
			fmt.Fprintf(w, "bad request %s %s?%s auth=%q key=%s", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
		}
	}
	tests := []struct {
		name    string
		respond http.HandlerFunc
		refused bool
	}{
		{name: "refused", refused: true},
		{name: "timeout", respond: func(w http.ResponseWriter, r *http.Request) { waitOrDone(r, 10*time.Second) }},
		{name: "404 echo", respond: echo(404)},
		{name: "500 echo", respond: echo(500)},
		{name: "302 echo", respond: echo(302)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := "http://" + actionstest.FreeAddr(t)
			if !tt.refused {
				srv, _ := actionstest.NewSink(t, tt.respond)
				base = srv.URL
			}
			rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}, timeout: 50ms}`), crmEnv(base+"/hooks/"+canary+"?token="+canary))
			r := renderRequest(t, rs, actionstest.BasePayload())
			var logs bytes.Buffer
			o := actions.SenderOptions{Logger: actionstest.DebugLogger(&logs)}
			err := actionstest.AssertSendLeaksNoSecret(t, newSender(t, rs, r, o), r, &logs, canary)
			require.NotContains(t, err.Error(), base)
			var se *actions.StatusError
			if errors.As(err, &se) {
				require.NotContains(t, se.Body, canary)
			}
		})
	}
}

// TestLargeResponse: a 10 MB answer is not read whole: the client stops at
// MaxResponseBytes and hangs up.
func TestLargeResponse(t *testing.T) {
	const size = 10 << 20
	hungUp := make(chan bool, 1)
	srv, _ := actionstest.NewSink(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(200)
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		_, _ = w.Write(chunk)
		w.(http.Flusher).Flush()
		gone := waitOrDone(r, 10*time.Second)
		hungUp <- gone
		for i := 1; i < size>>20 && !gone; i++ {
			_, _ = w.Write(chunk)
		}
	})
	rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}}`), crmEnv(srv.URL))
	r := renderRequest(t, rs, actionstest.BasePayload())
	require.NoError(t, newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r))
	require.True(t, <-hungUp, "the client read the whole body")

	c := httpkit.NewClient(actions.SenderOptions{MaxResponseBytes: 1000})
	w, err := rs.Wire(r)
	require.NoError(t, err)
	resp, err := c.Do(context.Background(), "crm", w.(*actions.HTTPRequest))
	require.NoError(t, err)
	require.Equal(t, 200, resp.Status)
	require.Len(t, resp.Body, 1000)
	<-hungUp
}

func TestLargeErrorBodyIsCut(t *testing.T) {
	srv, _ := actionstest.NewSink(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte(strings.Repeat("é\x00\x1b", 100_000)))
	})
	rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: 1}}`), crmEnv(srv.URL))
	r := renderRequest(t, rs, actionstest.BasePayload())
	err := newSender(t, rs, r, actions.SenderOptions{}).Send(context.Background(), r)
	var se *actions.StatusError
	require.ErrorAs(t, err, &se)
	require.LessOrEqual(t, len(se.Body), httpkit.MaxSnippet+3)
	require.NotContains(t, se.Body, "\x00")
	require.NotContains(t, se.Body, "\x1b")
	require.True(t, strings.HasSuffix(se.Body, "..."))
}

// TestConcurrentSends: one sender serves many goroutines at once.
func TestConcurrentSends(t *testing.T) {
	srv, got := actionstest.NewSink(t, nil)
	rs := actionstest.Load(t, crmRules(`{destination: crm, body: {a: "{{ text }}"}}`), crmEnv(srv.URL))
	r := renderRequest(t, rs, actionstest.BasePayload())
	s := newSender(t, rs, r, actions.SenderOptions{})
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			ri := r
			ri.Key = fmt.Sprintf("key-%d", i)
			errs <- s.Send(context.Background(), ri)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	keys := map[string]bool{}
	for range 32 {
		keys[(<-got).Header.Get("Idempotency-Key")] = true
	}
	require.Len(t, keys, 32)
}

func TestNewSenderRejectsOtherDestinations(t *testing.T) {
	_, err := webhook.Kind.NewSender("not a destination", actions.SenderOptions{})
	require.ErrorContains(t, err, "not of kind http")
}
