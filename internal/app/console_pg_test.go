package app_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

var consoleCSRF = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

// TestConsoleOnPostgres: with --store postgres:// the web console serves
// its pages from the PostgreSQL store: the overview, and the events page
// filtered by chat shows that chat's messages only.
func TestConsoleOnPostgres(t *testing.T) {
	dbURL := pgtest.Database(t)
	svc := start(t, `rules: [{name: greet, when: "true", actions: [{log: {message: "x"}}]}]`, func(c *app.Config) {
		c.Store, c.Instance = dbURL, "solo"
	})
	for i, chat := range []string{"111@c.us", "222@c.us"} {
		body := fmt.Sprintf(`{"direction":"received","chat_id":%q,"chat_title":"Title %d","message":{"id":"m%d","type":"chat","text":"hello from %s"}}`, chat, i, i, chat)
		status, _ := svc.post(t, []byte(body))
		require.Equal(t, http.StatusAccepted, status)
	}

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(svc.base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, page := get("/login")
	require.Equal(t, http.StatusOK, status, page)
	m := consoleCSRF.FindStringSubmatch(page)
	require.NotNil(t, m, "the login form has a CSRF field")
	resp, err := c.PostForm(svc.base+"/login", url.Values{"_csrf": {m[1]}, "token": {svc.admin}, "next": {"/"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "logged in")

	status, page = get("/")
	assert.Equal(t, http.StatusOK, status, page)
	status, page = get("/overview/series")
	assert.Equal(t, http.StatusOK, status, page)

	// The events are evaluated (matched by greet) soon after they are
	// accepted; the filter by chat reads the store's chat_id column.
	waitFor(t, func() bool {
		status, page = get("/events?chat=" + url.QueryEscape("222@c.us") + "&rule=greet")
		return status == http.StatusOK && strings.Contains(page, "hello from 222@c.us")
	})
	assert.NotContains(t, page, "hello from 111@c.us", "the other chat is filtered out")
	status, page = get("/events?q=" + url.QueryEscape("FROM 111"))
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "hello from 111@c.us")
	assert.NotContains(t, page, "hello from 222@c.us")
	status, page = get("/events/1")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, "greet", "the event's page lists the rule that matched it")
}
