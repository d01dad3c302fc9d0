package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestDiskFullIsAStateNotACrash: with the data directory on a full disk
// the webhook answers 503 with Retry-After, /readyz says not ready and
// switchboard_store_full_total rises; the service does not stop, and once
// there is room again it takes payloads and is ready by itself. No
// acknowledged event is lost.
func TestDiskFullIsAStateNotACrash(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: a full disk is simulated with a tmpfs, which this user cannot mount (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	svc := start(t, `rules: [{name: r, when: "true", actions: [{log: {message: "{{ message.id }}"}}]}]`, func(c *app.Config) { c.Data = dir })

	payload := func(i int) []byte {
		return fmt.Appendf(nil, `{"chat_id":"1@c.us","direction":"received","message":{"id":"M%d","type":"chat","text":%q},"timestamp":"1700000000"}`,
			i, bytes.Repeat([]byte("x"), 16<<10))
	}
	var acked []string
	refused := false
	for i := 0; i < 2000 && !refused; i++ {
		req, err := http.NewRequest(http.MethodPost, svc.hook, bytes.NewReader(payload(i)))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			acked = append(acked, fmt.Sprint("M", i))
		case http.StatusServiceUnavailable:
			refused = true
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
		default:
			t.Fatalf("answer %d", resp.StatusCode)
		}
	}
	require.True(t, refused, "3 MB cannot hold 32 MB of payloads")
	require.Positive(t, svc.metric(t, "switchboard_store_full_total"))
	resp, err := http.Get(svc.base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "not ready while the disk is full")

	require.NoError(t, exec.Command("mount", "-o", "remount,size=256m", dir).Run())
	waitFor(t, func() bool {
		status, _ := svc.post(t, payload(9999))
		return status == http.StatusAccepted || status == http.StatusOK
	})
	acked = append(acked, "M9999")
	waitFor(t, func() bool {
		resp, err := http.Get(svc.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// Every acknowledged payload is evaluated (its log action delivered).
	waitFor(t, func() bool {
		var ds []app.DeliveryView
		svc.api(t, http.MethodGet, "/api/deliveries?limit=10000", &ds)
		return len(ds) >= len(acked)
	})
}
