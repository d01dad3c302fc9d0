package console_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// benchEvents is how many events the page benchmarks store
// (SWITCHBOARD_BENCH_EVENTS overrides the 1,000,000 of the issue).
func benchEvents() int {
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_EVENTS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

var (
	benchOnce sync.Once
	benchApp  *app.App
	benchErr  error
	benchN    int
)

// fillStore writes n events spread over the last 7 days into a fresh
// store in dir with SQL (the ingest path would take minutes), each with
// its match, delivery and attempt as the dispatcher and the deliverer
// would have written them: received chats to "good" (done), images to
// "bad" (dead letters). The cursor is past them all.
func fillStore(dir string, n int) error {
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.FileName)+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UnixMilli()
	week := int64(7 * 24 * time.Hour / time.Millisecond)
	stmts := []string{
		fmt.Sprintf(`WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < %d)
		INSERT INTO events (received_at, body, size, dedupe_key)
		SELECT %d + i * %d / %d, b, length(b), 'k' || i FROM (SELECT i, CAST(json_object(
			'chat_id', printf('44700%%06d@c.us', i %% 5000), 'chat_type', 'individual', 'chat_title', printf('Customer %%d', i %% 5000),
			'user_phone', '447441368384', 'direction', CASE WHEN i %% 5 = 4 THEN 'sent' ELSE 'received' END,
			'message', json_object('id', printf('M%%d', i), 'type', CASE WHEN i %% 5 = 4 THEN 'chat' WHEN i %% 7 = 3 THEN 'image' WHEN i %% 1000 = 1 THEN 'location' ELSE 'chat' END,
				'text', printf('message %%d about order %%d', i, i %% 97)),
			'timestamp', CAST((%d + i * %d / %d) / 1000 AS TEXT),
			'sender', json_object('phone', '447441369136', 'wa_name', printf('Customer %%d', i %% 5000))) AS BLOB) AS b FROM seq)`,
			n-1, now-week, week, n, now-week, week, n),
		`INSERT INTO matches (event_id, rule, ruleset_version, matched_at)
		SELECT id, CASE WHEN msg_type = 'image' THEN 'images-to-bad' ELSE 'chats-to-good' END, 'bench', received_at
		FROM events WHERE direction = 'received' AND msg_type IN ('chat', 'image')`,
		`INSERT INTO jobs (event_id, rule, ruleset_version, action, kind, destination, request, idempotency_key, state, attempts,
			next_attempt_at, last_status, last_error, created_at, updated_at, queued_at)
		SELECT event_id, rule, 'bench', 0, 'http', CASE rule WHEN 'images-to-bad' THEN 'bad' ELSE 'good' END, '{"method":"POST","body":"{}"}',
			'key' || event_id, CASE rule WHEN 'images-to-bad' THEN 'dead' ELSE 'done' END, 1, matched_at,
			CASE rule WHEN 'images-to-bad' THEN 400 ELSE 200 END, CASE rule WHEN 'images-to-bad' THEN 'HTTP 400' ELSE '' END,
			matched_at, matched_at + 50, matched_at FROM matches`,
		`INSERT INTO attempts (job_id, at, outcome, snoozed, status, error, latency_us)
		SELECT id, updated_at, state, 0, last_status, last_error, 1500 FROM jobs`,
		`INSERT INTO chat_pending (chat_id, at) SELECT chat_id, MAX(received_at) FROM events WHERE direction = 'received' GROUP BY chat_id`,
		`UPDATE cursors SET position = (SELECT MAX(id) FROM events) WHERE name = 'dispatch'`,
		`ANALYZE`,
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("%.60s...: %w", strings.TrimSpace(q), err)
		}
	}
	return nil
}

func benchService(b *testing.B) (*app.App, int) {
	benchOnce.Do(func() {
		benchN = benchEvents()
		dir, err := os.MkdirTemp("", "console-bench")
		if err != nil {
			benchErr = err
			return
		}
		cleanupMu.Lock()
		cleanups = append(cleanups, func() { os.RemoveAll(dir) })
		cleanupMu.Unlock()
		start := time.Now()
		if benchErr = fillStore(filepath.Join(dir, "data"), benchN); benchErr != nil {
			return
		}
		b.Logf("stored %d events in %s", benchN, time.Since(start).Round(time.Second))
		rules := filepath.Join(dir, "rules.yaml")
		if benchErr = os.WriteFile(rules, []byte(fmt.Sprintf(rulesYAML, "http://127.0.0.1:9")), 0o644); benchErr != nil {
			return
		}
		benchApp, benchErr = app.New(context.Background(), app.Config{
			Rules: []string{rules}, Data: filepath.Join(dir, "data"), AdminToken: adminToken, Tokens: []string{"ingest-token-for-tests"},
			Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			LookupEnv: func(k string) (string, bool) { return secret, k == "SINK_TOKEN" },
			Retention: -1,
		})
		if benchErr == nil {
			cleanupMu.Lock()
			cleanups = append(cleanups, func() { benchApp.Close() })
			cleanupMu.Unlock()
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchApp, benchN
}

// localRequest is a request to the console as a browser on the machine
// makes it (the console refuses unknown Host names).
func localRequest(method, path string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, path, body)
	req.Host = "127.0.0.1:8080"
	return req
}

// session logs in through the handler and returns the session cookie.
func session(b *testing.B, h http.Handler) *http.Cookie {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, localRequest(http.MethodGet, "/login", nil))
	form := csrfRe.FindStringSubmatch(rec.Body.String())[1]
	req := localRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"_csrf": {form}, "token": {adminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "switchboard_session" {
			return c
		}
	}
	b.Fatal("no session")
	return nil
}

// BenchmarkPages renders every console page over a store of 1,000,000
// events, in process (server time only): the bound is 100 ms a
// page. Run: go test -run '^$' -bench BenchmarkPages ./internal/console/
func BenchmarkPages(b *testing.B) {
	a, n := benchService(b)
	h := a.AdminHandler()
	cookie := session(b, h)
	day := time.Now().Add(-24 * time.Hour).UTC().Format("2006-01-02T15:04")
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"overview-week", "/?range=week"},
		{"series-hour", "/overview/series?range=hour"},
		{"series-day", "/overview/series?range=day"},
		{"series-week", "/overview/series?range=week"},
		{"live", "/overview/live"},
		{"events", "/events"},
		{"events-chat", "/events?chat=44700001234%40c.us"},
		{"events-sent", "/events?direction=sent"},
		{"events-rare-type", "/events?type=location"},
		{"events-no-such-type", "/events?type=sticker"},
		{"events-rule", "/events?rule=images-to-bad"},
		{"events-rule-chat", "/events?rule=images-to-bad&chat=44700001234%40c.us"},
		{"events-text", "/events?q=order+42"},
		{"events-text-none", "/events?q=no+such+words"},
		{"events-since-day", "/events?since=" + day + "&direction=sent"},
		{"events-until-day", "/events?until=" + day},
		{"events-page-deep", fmt.Sprintf("/events?before=%d", n/2)},
		{"event", fmt.Sprintf("/events/%d?explain=1", n-3)},
		{"deliveries", "/deliveries"},
		{"deliveries-dead", "/deliveries?state=dead"},
		{"deliveries-dead-destination", "/deliveries?state=dead&destination=bad"},
		{"chats", "/chats"},
		{"rules", "/rules"},
		{"playground", fmt.Sprintf("/playground?event=%d", n-3)},
		{"destinations", "/destinations"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			req := localRequest(http.MethodGet, p.path, nil)
			req.AddCookie(cookie)
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if d := time.Since(t0); d > worst {
					worst = d
				}
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}
