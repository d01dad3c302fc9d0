package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestBackupCommand backs up a running server's data directory and checks
// the copy opens as a store holding the events posted before.
func TestBackupCommand(t *testing.T) {
	data, public, _ := serverWithAdmin(t)
	for i := range 3 {
		resp, err := http.Post(public+"/hooks/cooby/cli-test-token", "application/json",
			strings.NewReader(`{"direction":"received","message":{"id":"m`+string(rune('0'+i))+`","text":"hi"}}`))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	code, out, errOut := cli(t, "", "backup", "--data", data, dest)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "backed up 3 events (")

	code, _, errOut = cli(t, "", "backup", "--data", data, dest)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "already exists")
	code, _, errOut = cli(t, "", "backup", "--data", data)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "give one FILE")

	restored := t.TempDir()
	copied, err := os.ReadFile(dest)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(restored, store.FileName), copied, 0o600))
	s, err := store.Open(t.Context(), restored, store.Options{})
	require.NoError(t, err)
	defer s.Close()
	evs, err := s.ReadEvents(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 3)
}
