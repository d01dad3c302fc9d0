package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

// TestStatusCommandShowsPausedDestinations: a destination that keeps
// failing is listed by `switchboard status` as paused, with its next probe,
// and disappears from the list once it recovers.
func TestStatusCommandShowsPausedDestinations(t *testing.T) {
	down := make(chan bool, 1)
	down <- true
	crm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := <-down
		down <- d
		if d {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(crm.Close)
	base, _, a := server(t, `destinations:
  crm: {kind: http, url: "`+crm.URL+`", allow_private: true}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: crm, body: {id: "{{ message.id }}"}}}]
`)
	for i := range 4 {
		postEvent(t, a, base, fmt.Sprintf(`{"direction":"received","message":{"id":"H%d","type":"chat"}}`, i))
	}
	paused := regexp.MustCompile(`destination crm  PAUSED after \d+ failures in a row; next probe \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n`)
	require.Eventually(t, func() bool {
		code, out, _ := cli(t, "", "status", "--server", base, "--data", t.TempDir())
		return code == 0 && paused.MatchString(out)
	}, 10*time.Second, 20*time.Millisecond)

	<-down
	down <- false
	require.Eventually(t, func() bool {
		_, out, _ := cli(t, "", "status", "--server", base, "--data", t.TempDir())
		return !regexp.MustCompile(`destination crm`).MatchString(out) && regexp.MustCompile(`deliveries\s+0 pending, 0 dead letters`).MatchString(out)
	}, 90*time.Second, 50*time.Millisecond, "the probe succeeds within a minute and releases the rest")
}

// TestRetryScheduleFlagDefault: the default of serve --retry-schedule, as
// -h prints it, reads back as the default schedule.
func TestRetryScheduleFlagDefault(t *testing.T) {
	s := scheduleFlag(actions.DefaultSchedule)
	require.Equal(t, "5s,5m,30m,2h,5h,10h,10h,10h,10h,10h,10h", s)
	got, err := actions.ParseSchedule(s)
	require.NoError(t, err)
	require.Equal(t, actions.DefaultSchedule, got)
}
