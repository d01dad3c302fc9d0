package app_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// TestRetentionConfig: a retention window shorter than the dedupe window is
// raised to it with a warning (an event must outlive the dedupe key that
// recognises its repeats); the default, a longer one and "keep everything"
// start as given.
func TestRetentionConfig(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name              string
		retention, dedupe time.Duration
		warn              bool
	}{
		{"default", 0, 0, false},
		{"keep everything", -1, 0, false},
		{"equal to the dedupe window", 14 * day, 14 * day, false},
		{"shorter than the default dedupe window", 10 * day, 0, true},
		{"shorter than a set dedupe window", 40 * day, 60 * day, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "rules.yaml")
			require.NoError(t, os.WriteFile(path, []byte("rules: []\n"), 0o644))
			logs := &syncBuffer{}
			a, err := app.New(t.Context(), app.Config{
				Rules: []string{path}, Data: filepath.Join(dir, "data"), Retention: tc.retention, DedupeWindow: tc.dedupe,
				Logger: slog.New(slog.NewTextHandler(logs, nil)), LookupEnv: func(string) (string, bool) { return "", false },
			})
			require.NoError(t, err)
			require.NoError(t, a.Close())
			warned := strings.Contains(logs.String(), "the retention window is shorter than the dedupe window")
			require.Equal(t, tc.warn, warned, logs.String())
		})
	}
}

// TestStoreMetrics: the admin listener's /metrics has the store's size and
// the retention counters.
func TestStoreMetrics(t *testing.T) {
	svc := start(t, "rules: []\n", func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	resp, err := http.Get("http://" + svc.app.AdminAddr().String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var size string
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "switchboard_store_bytes "); ok {
			size = v
		}
	}
	require.NotEmpty(t, size, "no switchboard_store_bytes")
	require.NotEqual(t, "0", size)
	require.Contains(t, string(body), `switchboard_store_pruned_total{table="events"} 0`)
}
