package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/store"
)

const (
	adminToken = "admin-token-for-console-tests"
	// secret is the value of ${SINK_TOKEN}: no page may show it.
	secret = "s3cr3t-sink-token-value"
)

// Hostile texts, stored as chat titles and message texts: the console
// must show them literally and run none of them.
var hostile = []string{
	`<img src=x onerror="window.__pwned=1;alert(1)">`,
	`<script>window.__pwned=1;alert(1)</script>`,
	`javascript:window.__pwned=1`,
	`"><svg onload=alert(1)>`,
}

// rulesYAML routes chats to a sink that accepts them and images to one
// that refuses them (400: a dead letter at once), and checks unanswered
// chats 30 minutes later.
const rulesYAML = `
destinations:
  good:
    kind: http
    url: %[1]s/good
    headers:
      Authorization: "Bearer ${SINK_TOKEN}"
  bad:
    kind: http
    url: %[1]s/bad
rules:
  - name: chats-to-good
    when: direction == "received" && type == "chat"
    actions:
      - http:
          destination: good
          method: POST
          body: {text: "{{ text }}", chat: "{{ chat_title }}"}
  - name: images-to-bad
    when: type == "image"
    actions:
      - http:
          destination: bad
          method: POST
          body: {chat: "{{ chat_title }}"}
  - name: unanswered
    when: direction == "received" && !from_team && !is_group && chat.awaiting_reply && chat.awaiting_since == time
    after: 30m
    actions:
      - log:
          message: "{{ chat_title }} waits"
`

// fixture is a running service whose store holds n generated events,
// all evaluated and their deliveries finished.
type fixture struct {
	app     *app.App
	base    string
	dir     string
	badOK   atomic.Bool // the bad sink accepts (to replay its dead letters)
	n       int
	chats   int
	started time.Time
	// meta describes each stored event by its id.
	meta map[int64]eventMeta
}

// eventMeta is what a generated event is.
type eventMeta struct {
	i, chat        int
	direction, typ string
}

func payload(i int, chat string, title, dir, typ, text string, at time.Time) []byte {
	p := map[string]any{
		"chat_id": chat, "chat_type": "individual", "chat_title": title, "user_phone": "447441368384",
		"user_email": "agent@example.com", "direction": dir,
		"message":   map[string]any{"id": fmt.Sprintf("M%07d", i), "type": typ, "text": text},
		"timestamp": fmt.Sprint(at.Unix()),
		"sender":    map[string]any{"phone": "447441369136", "wa_name": title},
	}
	data, _ := json.Marshal(p)
	return data
}

// chatID is the id of the i-th generated chat; the first ones carry the
// hostile strings in their titles and texts.
func chatID(c int) string { return fmt.Sprintf("44700%06d@c.us", c) }

func newFixture(t testing.TB, n int, mods ...func(*app.Config)) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), n: n, chats: 40, started: time.Now()}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasSuffix(r.URL.Path, "/bad") && !f.badOK.Load() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(sink.Close)
	rules := filepath.Join(f.dir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(fmt.Sprintf(rulesYAML, sink.URL)), 0o644))
	data := filepath.Join(f.dir, "data")

	// The events go straight into the store, spread over the last two
	// days; the service evaluates them when it starts.
	st, err := store.Open(context.Background(), data, store.Options{})
	require.NoError(t, err)
	now := time.Now()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	f.meta = map[int64]eventMeta{}
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		c := i % f.chats
		title, text := fmt.Sprintf("Customer %d", c), fmt.Sprintf("message %d about order %d", i, i%97)
		if c < len(hostile) {
			title, text = hostile[c], hostile[(c+1)%len(hostile)]+" "+text
		}
		dir, typ := "received", "chat"
		switch {
		case i%5 == 4:
			dir = "sent"
		case i%7 == 3:
			typ = "image"
		case i%11 == 5:
			typ = "document"
		}
		at := now.Add(-48 * time.Hour).Add(time.Duration(i) * 48 * time.Hour / time.Duration(n))
		body := payload(i, chatID(c), title, dir, typ, text, at)
		ev, err := engine.Decode(body)
		require.NoError(t, err)
		add := func() {
			res, err := st.Append(context.Background(), store.NewEvent{Body: body, DedupeKey: engine.DedupeKey(ev, body), ReceivedAt: at})
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			f.meta[res.ID] = eventMeta{i: i, chat: c, direction: dir, typ: typ}
			mu.Unlock()
		}
		if i == 0 {
			// The oldest event first, so that it has the lowest id: the
			// charts count events by id ranges from the oldest one's id,
			// and a later id there would leave an event out of the total.
			add()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			add()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())

	cfg := app.Config{
		Rules: []string{rules}, Addr: "127.0.0.1:0", Data: data, Tokens: []string{"ingest-token-for-tests"}, AdminToken: adminToken,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		LookupEnv:   func(k string) (string, bool) { return secret, k == "SINK_TOKEN" },
		EgressAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		MaxAttempts: 1, ConsoleHosts: []string{"switchboard.example"},
	}
	for _, m := range mods {
		m(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg)
	require.NoError(t, err)
	addr, err := a.Listen()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("service did not stop")
		}
	})
	f.app, f.base = a, "http://"+addr.String()
	status := f.base + "/status"
	if aa := a.AdminAddr(); aa != nil {
		status = "http://" + aa.String() + "/status"
	}
	// Wait until every event is evaluated and no delivery is waiting.
	waitFor(t, func() bool {
		var st struct {
			Queue struct {
				Cursor  int64 `json:"evaluated_through"`
				Events  int64 `json:"events"`
				Pending int64 `json:"pending_deliveries"`
			} `json:"queue"`
		}
		resp, err := http.Get(status)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return false
		}
		return st.Queue.Events == int64(n) && st.Queue.Cursor >= int64(n) && st.Queue.Pending == 0
	})
	return f
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed (the tests look at them).
type client struct {
	t    testing.TB
	base string
	http *http.Client
	csrf string
}

func (f *fixture) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: f.base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if m := csrfRe.FindStringSubmatch(string(b)); m != nil && resp.Request.URL.Path != "/login" {
		c.csrf = m[1]
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

var csrfRe = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

func (c *client) get(path string, header ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	require.NoError(c.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values, header ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.do(req)
}

// login logs the client in and keeps the session's CSRF token.
func (c *client) login() {
	c.t.Helper()
	p := c.get("/login")
	require.Equal(c.t, http.StatusOK, p.status)
	m := csrfRe.FindStringSubmatch(p.body)
	require.NotNil(c.t, m, "the login form has a CSRF field")
	p = c.post("/login", url.Values{"_csrf": {m[1]}, "token": {adminToken}, "next": {"/"}})
	require.Equal(c.t, http.StatusSeeOther, p.status, p.body)
	p = c.get("/")
	require.Equal(c.t, http.StatusOK, p.status)
	require.NotEmpty(c.t, c.csrf)
}
