package console_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// events is how many events the handler tests' store holds.
const events = 3000

var (
	sharedOnce sync.Once
	shared     *fixture
)

// sharedFixture is one service for the read-only handler tests; tests
// that change state (replay, reload) make their own.
func sharedFixture(t *testing.T) *fixture {
	sharedOnce.Do(func() { shared = newFixture(&sharedT{t}, events) })
	if shared == nil {
		t.Fatal("the shared fixture failed to start")
	}
	return shared
}

// sharedT keeps the shared fixture alive past the first test using it:
// its cleanups run when the test binary exits (TestMain).
type sharedT struct{ *testing.T }

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func (s *sharedT) Cleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func (s *sharedT) TempDir() string {
	dir, err := os.MkdirTemp("", "console-test")
	if err != nil {
		s.Fatal(err)
	}
	s.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupMu.Lock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanupMu.Unlock()
	os.Exit(code)
}

var pagePaths = []string{"/", "/events", "/events/1", "/deliveries", "/chats", "/rules", "/playground", "/destinations",
	"/overview/live", "/overview/series?range=week", "/events/7?explain=1", "/deliveries?state=dead", "/playground?event=3"}

func TestEveryPageNeedsASession(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	for _, p := range pagePaths {
		t.Run(p, func(t *testing.T) {
			got := c.get(p)
			require.Equal(t, http.StatusSeeOther, got.status)
			assert.True(t, strings.HasPrefix(got.header.Get("Location"), "/login"), got.header.Get("Location"))
			hx := c.get(p, "HX-Request", "true")
			assert.Equal(t, http.StatusUnauthorized, hx.status)
			assert.True(t, strings.HasPrefix(hx.header.Get("HX-Redirect"), "/login"))
		})
	}
	for _, p := range []string{"/rules/reload", "/deliveries/replay", "/playground", "/destinations/good/test", "/logout"} {
		assert.Equal(t, http.StatusUnauthorized, c.post(p, url.Values{}).status, p)
	}
	// A session id made up by the client is no session.
	u, _ := url.Parse(f.base)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "switchboard_session", Value: strings.Repeat("ab", 32)}})
	assert.Equal(t, http.StatusSeeOther, c.get("/events").status)
}

func TestLogin(t *testing.T) {
	f := sharedFixture(t)
	tests := []struct {
		name       string
		csrf       func(form string) string
		token      string
		header     []string
		wantStatus int
		wantSecure bool
	}{
		{"right token", func(s string) string { return s }, adminToken, nil, http.StatusSeeOther, false},
		{"behind HTTPS", func(s string) string { return s }, adminToken, []string{"X-Forwarded-Proto", "https"}, http.StatusSeeOther, true},
		{"wrong token", func(s string) string { return s }, "not-the-token", nil, http.StatusUnauthorized, false},
		{"empty token", func(s string) string { return s }, "", nil, http.StatusUnauthorized, false},
		{"no form token", func(string) string { return "" }, adminToken, nil, http.StatusForbidden, false},
		{"wrong form token", func(string) string { return strings.Repeat("0", 64) }, adminToken, nil, http.StatusForbidden, false},
		{"cross-origin", func(s string) string { return s }, adminToken, []string{"Origin", "http://evil.example"}, http.StatusForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client(t)
			form := csrfRe.FindStringSubmatch(c.get("/login").body)[1]
			got := c.post("/login", url.Values{"_csrf": {tt.csrf(form)}, "token": {tt.token}, "next": {"/events"}}, tt.header...)
			require.Equal(t, tt.wantStatus, got.status, got.body)
			cookie := sessionCookie(got.header)
			if tt.wantStatus != http.StatusSeeOther {
				assert.Nil(t, cookie, "no session without the token")
				notContains(t, got.body, adminToken)
				return
			}
			assert.Equal(t, "/events", got.header.Get("Location"))
			require.NotNil(t, cookie)
			assert.True(t, cookie.HttpOnly)
			assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
			assert.Equal(t, tt.wantSecure, cookie.Secure)
			assert.NotContains(t, cookie.Value, adminToken)
		})
	}
	t.Run("next is a local path only", func(t *testing.T) {
		c := f.client(t)
		form := csrfRe.FindStringSubmatch(c.get("/login").body)[1]
		got := c.post("/login", url.Values{"_csrf": {form}, "token": {adminToken}, "next": {"//evil.example/"}})
		assert.Equal(t, "/", got.header.Get("Location"))
	})
	t.Run("logout ends the session", func(t *testing.T) {
		c := f.client(t)
		c.login()
		require.Equal(t, http.StatusSeeOther, c.post("/logout", url.Values{"_csrf": {c.csrf}}).status)
		assert.Equal(t, http.StatusSeeOther, c.get("/events").status)
	})
}

func sessionCookie(h http.Header) *http.Cookie {
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == "switchboard_session" && ck.Value != "" {
			return ck
		}
	}
	return nil
}

func TestHostHeader(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	port := f.base[strings.LastIndex(f.base, ":"):]
	for host, want := range map[string]int{
		"127.0.0.1" + port:           http.StatusOK,
		"localhost" + port:           http.StatusOK,
		"[::1]" + port:               http.StatusOK,
		"switchboard.example" + port: http.StatusOK, // Config.ConsoleHosts
		"SWITCHBOARD.example.":       http.StatusOK,
		"evil.example" + port:        http.StatusMisdirectedRequest,
		"127.0.0.1.nip.io" + port:    http.StatusMisdirectedRequest,
	} {
		assert.Equal(t, want, c.get("/login", "Host", host).status, host)
	}
}

func TestPagesAreSafe(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	inlineScript := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>`)
	handler := regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)
	for _, p := range append(pagePaths, "/events?q=script", "/chats") {
		t.Run(p, func(t *testing.T) {
			got := c.get(p)
			require.Equal(t, http.StatusOK, got.status, got.body)
			csp := got.header.Get("Content-Security-Policy")
			assert.Contains(t, csp, "script-src 'self'")
			assert.NotContains(t, csp, "unsafe")
			assert.Equal(t, "nosniff", got.header.Get("X-Content-Type-Options"))
			for _, tag := range inlineScript.FindAllString(got.body, -1) {
				assert.Contains(t, tag, ` src="/static/`, "only scripts from the console itself")
			}
			assert.Empty(t, handler.FindAllString(got.body, -1), "no inline event handler")
			notContains(t, got.body, secret)
			notContains(t, got.body, adminToken)
			for _, h := range hostile {
				if !strings.HasPrefix(h, "javascript:") {
					notContains(t, got.body, h)
				}
			}
			notContains(t, got.body, `href="javascript:`)
		})
	}
}

func TestHostileTextShowsLiterally(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	for i, h := range hostile {
		got := c.get("/events?chat=" + url.QueryEscape(chatID(i)))
		require.Equal(t, http.StatusOK, got.status)
		contains(t, got.body, h)                           // the title
		contains(t, got.body, hostile[(i+1)%len(hostile)]) // the text
	}
	got := c.get("/chats")
	contains(t, got.body, hostile[0])
	notContains(t, got.body, `href="javascript:`)
}

// contains asserts that a page holds want (unescaped), without printing
// the whole page when it does not.
func contains(t *testing.T, body, want string) {
	t.Helper()
	if !strings.Contains(html.UnescapeString(body), want) {
		t.Errorf("the page does not contain %q", want)
	}
}

func notContains(t *testing.T, body, unwanted string) {
	t.Helper()
	if strings.Contains(body, unwanted) {
		t.Errorf("the page contains %q", unwanted)
	}
}

// rows returns the ids of the events the events page lists.
var rowRe = regexp.MustCompile(`<td><a href="/events/(\d+)">`)

func eventIDs(body string) []int {
	var out []int
	for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.Atoi(m[1])
		out = append(out, n)
	}
	return out
}

func TestEventFilters(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	textOf := func(m eventMeta) string { return fmt.Sprintf("message %d about order %d", m.i, m.i%97) }
	tests := []struct {
		query string
		want  func(m eventMeta) bool
	}{
		{"", func(eventMeta) bool { return true }},
		{"chat=" + url.QueryEscape(chatID(7)), func(m eventMeta) bool { return m.chat == 7 }},
		{"direction=sent", func(m eventMeta) bool { return m.direction == "sent" }},
		{"type=image", func(m eventMeta) bool { return m.typ == "image" }},
		{"type=document&direction=received", func(m eventMeta) bool { return m.typ == "document" && m.direction == "received" }},
		{"rule=images-to-bad", func(m eventMeta) bool { return m.typ == "image" }},
		{"rule=chats-to-good&chat=" + url.QueryEscape(chatID(11)), func(m eventMeta) bool {
			return m.chat == 11 && m.direction == "received" && m.typ == "chat"
		}},
		{"q=ORDER+42", func(m eventMeta) bool { return strings.HasSuffix(textOf(m), "order 42") }},
		{"q=" + url.QueryEscape(" <script> "), func(m eventMeta) bool { return m.chat == 0 || m.chat == 1 }},
		{"q=" + url.QueryEscape("100%"), func(eventMeta) bool { return false }},
		{"type=no-such-type", func(eventMeta) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := c.get("/events?" + tt.query)
			require.Equal(t, http.StatusOK, got.status)
			var want []int
			for id := int64(events); id > 0 && len(want) < 50; id-- {
				if tt.want(f.meta[id]) {
					want = append(want, int(id))
				}
			}
			assert.Equal(t, want, eventIDs(got.body))
		})
	}
	t.Run("paging", func(t *testing.T) {
		first := c.get("/events?direction=sent")
		m := regexp.MustCompile(`href="(/events\?[^"]*before=[^"]*)"`).FindStringSubmatch(first.body)
		require.NotNil(t, m, "a link to older events")
		next := c.get(html.UnescapeString(m[1]))
		ids := eventIDs(next.body)
		require.Len(t, ids, 50)
		assert.Less(t, ids[0], eventIDs(first.body)[49])
		for _, id := range ids {
			assert.Equal(t, "sent", f.meta[int64(id)].direction)
		}
	})
	t.Run("time", func(t *testing.T) {
		// The events are spread evenly over the 48 hours before the
		// fixture started: the last 6 hours hold the newest eighth.
		bound := f.started.Add(-6 * time.Hour).UTC().Truncate(time.Minute)
		at := func(id int) time.Time {
			return f.started.Add(-48 * time.Hour).Add(time.Duration(f.meta[int64(id)].i) * 48 * time.Hour / events)
		}
		ids := eventIDs(c.get("/events?since=" + bound.Format("2006-01-02T15:04")).body)
		require.Len(t, ids, 50)
		for _, id := range ids {
			assert.False(t, at(id).Before(bound.Add(-time.Second)), "event %d is after the bound", id)
		}
		ids = eventIDs(c.get("/events?until=" + bound.Format("2006-01-02T15:04")).body)
		require.Len(t, ids, 50)
		for _, id := range ids {
			assert.True(t, at(id).Before(bound.Add(time.Second)), "event %d is before the bound", id)
		}
		// The newest event before the bound comes first.
		assert.InDelta(t, float64(events*7/8), float64(f.meta[int64(ids[0])].i), 3)
	})
	for _, bad := range []string{"since=yesterday", "until=2026-13-45", "before=x"} {
		got := c.get("/events?" + bad)
		assert.Equal(t, http.StatusBadRequest, got.status, bad)
		contains(t, got.body, strings.SplitN(bad, "=", 2)[0]+":")
	}
}

func TestEventPage(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	// An image matched images-to-bad: a dead letter.
	var image int64
	for id, m := range f.meta {
		if m.typ == "image" {
			image = id
			break
		}
	}
	got := c.get(fmt.Sprintf("/events/%d", image))
	require.Equal(t, http.StatusOK, got.status)
	for _, want := range []string{"images-to-bad", `<span class="state dead">dead</span>`, "400", "Rendered request", `\"chat\":\"`} {
		contains(t, got.body, want)
	}
	got = c.get(fmt.Sprintf("/events/%d?explain=1", image))
	contains(t, got.body, "chats-to-good</strong>:")
	assert.Equal(t, http.StatusNotFound, c.get(fmt.Sprintf("/events/%d", events+100)).status)
	assert.Equal(t, http.StatusBadRequest, c.get("/events/abc").status)
}

func TestDeliveryFilters(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	stateRe := regexp.MustCompile(`<span class="state (\w+)">`)
	for _, state := range []string{"dead", "done"} {
		got := c.get("/deliveries?state=" + state)
		require.Equal(t, http.StatusOK, got.status)
		states := stateRe.FindAllStringSubmatch(got.body, -1)
		require.Len(t, states, 50)
		for _, s := range states {
			assert.Equal(t, state, s[1])
		}
	}
	got := c.get("/deliveries?destination=bad&state=dead")
	contains(t, got.body, "Replay every dead letter of")
	assert.NotContains(t, c.get("/deliveries?destination=good").body, "→ <a href=\"/destinations#dest-bad\"")
	// Every delivery was created after the fixture started.
	before := f.started.Add(-time.Minute).UTC().Format("2006-01-02T15:04")
	contains(t, c.get("/deliveries?until="+before).body, "No delivery matches.")
	got = c.get("/deliveries?state=dead&since=" + before)
	require.Equal(t, http.StatusOK, got.status)
	assert.Len(t, stateRe.FindAllStringSubmatch(got.body, -1), 50)
	later := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04")
	contains(t, c.get("/deliveries?since="+later).body, "No delivery matches.")
	assert.Len(t, stateRe.FindAllStringSubmatch(c.get("/deliveries?until="+later).body, -1), 50)
	assert.Equal(t, http.StatusBadRequest, c.get("/deliveries?since=soon").status)
	assert.Equal(t, http.StatusBadRequest, c.get("/deliveries?state=lost").status)
	assert.Equal(t, http.StatusBadRequest, c.get("/deliveries?event=x").status)
}

func TestCSRF(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	for _, tt := range []struct {
		name   string
		form   url.Values
		header []string
		want   int
	}{
		{"no token", url.Values{}, nil, http.StatusForbidden},
		{"wrong token", url.Values{"_csrf": {strings.Repeat("1", 64)}}, nil, http.StatusForbidden},
		{"other origin", url.Values{"_csrf": {c.csrf}}, []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"form token", url.Values{"_csrf": {c.csrf}}, nil, http.StatusOK},
		{"header token (htmx)", url.Values{}, []string{"X-CSRF-Token", c.csrf}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := c.post("/rules/reload", tt.form, tt.header...)
			assert.Equal(t, tt.want, got.status, got.body)
		})
	}
}

func TestPlaygroundAndDiff(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	sample, err := os.ReadFile("testdata/received-chat.json")
	require.NoError(t, err)
	got := c.post("/playground", url.Values{"_csrf": {c.csrf}, "payload": {string(sample)}, "explain": {"1"}})
	require.Equal(t, http.StatusOK, got.status, got.body)
	contains(t, got.body, "<strong>chats-to-good</strong>")
	contains(t, got.body, "Manchester")
	notContains(t, got.body, secret)

	got = c.post("/playground", url.Values{"_csrf": {c.csrf}, "payload": {string(sample)}, "rules": {"rules:\n  - name: x\n    when: type ==\n"}})
	assert.Equal(t, http.StatusBadRequest, got.status)
	contains(t, got.body, "edited.yaml:3:")

	got = c.post("/playground", url.Values{"_csrf": {c.csrf}, "payload": {"{not json"}})
	contains(t, got.body, "payload")

	got = c.post("/rules/diff", url.Values{"_csrf": {c.csrf}, "since": {"72h"}, "rules": {"rules:\n  - name: all-sent\n    when: direction == \"sent\"\n    actions:\n      - log: {message: sent}\n"}})
	require.Equal(t, http.StatusOK, got.status, got.body)
	contains(t, got.body, fmt.Sprintf("%d events since", events))
	contains(t, got.body, "+ all-sent action 1 (log)")
	got = c.post("/rules/diff", url.Values{"_csrf": {c.csrf}, "rules": {"rules: [\n"}})
	assert.Equal(t, http.StatusUnprocessableEntity, got.status)
	contains(t, got.body, "pasted.yaml:")
	assert.Equal(t, http.StatusBadRequest, c.post("/rules/diff", url.Values{"_csrf": {c.csrf}}).status)
}

func TestDestinationsMaskSecrets(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	got := c.get("/destinations")
	require.Equal(t, http.StatusOK, got.status)
	contains(t, got.body, "Bearer ***")
	notContains(t, got.body, secret)
	got = c.post("/destinations/good/test", url.Values{"_csrf": {c.csrf}})
	require.Equal(t, http.StatusOK, got.status, got.body)
	contains(t, got.body, "OK: the test message was delivered to good")
	notContains(t, got.body, secret)
	got = c.post("/destinations/bad/test", url.Values{"_csrf": {c.csrf}})
	contains(t, got.body, "FAIL: the test message failed permanently")
	assert.Equal(t, http.StatusNotFound, c.post("/destinations/nope/test", url.Values{"_csrf": {c.csrf}}).status)
}

func TestReplay(t *testing.T) {
	f := newFixture(t, 200)
	c := f.client(t)
	c.login()
	got := c.get("/deliveries?state=dead&destination=bad")
	ids := regexp.MustCompile(`name="id" value="(\d+)"`).FindAllStringSubmatch(got.body, -1)
	require.NotEmpty(t, ids)
	f.badOK.Store(true)

	got = c.post("/deliveries/replay", url.Values{"_csrf": {c.csrf}, "id": {ids[0][1]}, "f_state": {"dead"}})
	require.Equal(t, http.StatusSeeOther, got.status, got.body)
	loc := got.header.Get("Location")
	assert.Contains(t, loc, "replay=")
	waitFor(t, func() bool {
		return strings.Contains(c.get(loc).body, "finished")
	})
	assert.Contains(t, c.get("/deliveries?state=done&destination=bad").body, `<td>`+ids[0][1]+`</td>`)

	// Every dead letter of the destination.
	got = c.post("/deliveries/replay", url.Values{"_csrf": {c.csrf}, "all": {"1"}, "destination": {"bad"}})
	require.Equal(t, http.StatusSeeOther, got.status)
	waitFor(t, func() bool {
		return strings.Contains(c.get("/deliveries?state=dead&destination=bad").body, "No delivery matches.")
	})
	assert.Equal(t, http.StatusBadRequest, c.post("/deliveries/replay", url.Values{"_csrf": {c.csrf}}).status)
}

func TestConsoleIsOnTheAdminListener(t *testing.T) {
	f := newFixture(t, 10, func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	admin := "http://" + f.app.AdminAddr().String()
	for _, p := range []string{"/", "/login", "/events", "/static/console.js"} {
		resp, err := http.Get(f.base + p)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the public listener does not serve %s", p)
	}
	c := f.client(t)
	c.base = admin
	c.login()
	assert.Equal(t, http.StatusOK, c.get("/events").status)
}

func TestOverviewSeries(t *testing.T) {
	f := sharedFixture(t)
	c := f.client(t)
	c.login()
	got := c.get("/overview/series?range=week")
	require.Equal(t, http.StatusOK, got.status)
	var s struct {
		Times    []int64              `json:"times"`
		Events   []float64            `json:"events"`
		Outcomes map[string][]float64 `json:"outcomes"`
	}
	require.NoError(t, json.Unmarshal([]byte(got.body), &s))
	require.Len(t, s.Times, 168)
	require.Len(t, s.Events, 168)
	sum := func(v []float64) float64 {
		total := 0.0
		for _, x := range v {
			total += x * 60 // per minute, hour buckets
		}
		return total
	}
	assert.InDelta(t, events, sum(s.Events), 0.5, "every stored event is in the week")
	var deliveries, dead int
	for _, m := range f.meta {
		if m.direction == "received" && (m.typ == "chat" || m.typ == "image") {
			deliveries++
			if m.typ == "image" {
				dead++
			}
		}
	}
	// Each delivery had one attempt (MaxAttempts 1); the unanswered rule's
	// log actions have theirs too.
	assert.GreaterOrEqual(t, sum(s.Outcomes["done"])+sum(s.Outcomes["dead"]), float64(deliveries)-0.5)
	assert.InDelta(t, float64(dead), sum(s.Outcomes["dead"]), 0.5)
	// The overview lists the matches per rule.
	contains(t, c.get("/?range=day").body, `<a href="/events?rule=images-to-bad">images-to-bad</a>`)
}
