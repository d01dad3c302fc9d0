package app_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// twoActionRules: every event matches both rules, so each gets two jobs,
// and the rule names say which version decided.
func twoActionRules(v string) string {
	return fmt.Sprintf(`rules:
  - name: first-%[1]s
    when: "true"
    actions: [{log: {level: debug, message: "%[1]s {{ message.id }}"}}]
  - name: second-%[1]s
    when: "true"
    actions: [{log: {level: debug, message: "%[1]s again"}}]
`, v)
}

// TestReloadUnderLoad: while clients post without pause, the rules file is
// saved 20 times, alternating two valid versions. No post is lost or
// refused, and every event is decided by exactly one of the two versions.
func TestReloadUnderLoad(t *testing.T) {
	svc := start(t, twoActionRules("v1"), watched)
	versions := map[string]string{svc.app.Rules().Version: "v1"}

	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		posted   atomic.Int64
		failures = make(chan string, 100)
	)
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"direction":"received","message":{"id":"L%d-%d","type":"chat","text":"hi"}}`, c, i)
				resp, err := http.Post(svc.hook, "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					failures <- err.Error()
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					failures <- fmt.Sprintf("post %s: %d", body, resp.StatusCode)
					return
				}
				posted.Add(1)
			}
		})
	}

	before := svc.reloads(t)
	for i := range 20 {
		v := []string{"v2", "v1"}[i%2]
		saveByRename(t, svc.rules, twoActionRules(v))
		waitFor(t, func() bool { return svc.app.Rules().Rule("first-"+v) != nil })
		versions[svc.app.Rules().Version] = v
		// Let some events through this version before the next save.
		n := posted.Load()
		waitFor(t, func() bool { return posted.Load() >= n+5 })
	}
	close(stop)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	require.Len(t, versions, 2)
	time.Sleep(3 * testDebounce)
	require.Equal(t, before+20, svc.reloads(t), "one reload per save")

	// Wait until every event is evaluated, then check the attribution.
	total := posted.Load()
	waitFor(t, func() bool {
		q := svc.status(t).Queue
		return q.Events == total && q.Cursor > 0 && q.BacklogBytes == 0
	})
	var ds []app.DeliveryView
	require.Equal(t, http.StatusOK, svc.api(t, http.MethodGet, fmt.Sprintf("/api/deliveries?limit=%d", 10*total), &ds))
	byEvent := map[int64][]app.DeliveryView{}
	for _, d := range ds {
		byEvent[d.EventID] = append(byEvent[d.EventID], d)
	}
	require.Len(t, byEvent, int(total), "every event has its jobs")
	seen := map[string]int{}
	for id, jobs := range byEvent {
		require.Len(t, jobs, 2, "event %d", id)
		v, ok := versions[jobs[0].Version]
		require.True(t, ok, "event %d: unknown version %s", id, jobs[0].Version)
		for _, j := range jobs {
			require.Equal(t, jobs[0].Version, j.Version, "event %d decided by two versions", id)
			require.Contains(t, []string{"first-" + v, "second-" + v}, j.Rule, "event %d", id)
		}
		seen[v]++
	}
	require.Len(t, seen, 2, "both versions decided events")
	t.Logf("%d events posted during 20 reloads: %v", total, seen)
}
