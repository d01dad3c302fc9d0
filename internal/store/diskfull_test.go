package store

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// tmpfs mounts a small tmpfs for a test and returns its directory and a
// function that resizes it; the test is skipped where mounting is not
// allowed (it needs root).
func tmpfs(t *testing.T, size string) (string, func(size string)) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipped: a full disk is simulated with a tmpfs, which this user cannot mount (%v: %s)", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir, func(size string) {
		out, err := exec.Command("mount", "-o", "remount,size="+size, dir).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
}

// TestDiskFull_RefusesThenRecovers: when the disk fills, appends fail with
// ErrDiskFull (which wraps ErrFull: the webhook answers 503), the store
// does not fail, and once there is room again it takes writes without a
// restart; every acknowledged event is kept.
func TestDiskFull_RefusesThenRecovers(t *testing.T) {
	dir, resize := tmpfs(t, "2m")
	s := openT(t, dir, quiet)
	body := bytes.Repeat([]byte("x"), 8<<10)
	var acked []int64
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		a, err := s.Append(t.Context(), NewEvent{Body: body, DedupeKey: fmt.Sprint("k", i)})
		if err != nil {
			full = err
			break
		}
		acked = append(acked, a.ID)
	}
	require.Error(t, full, "2 MB cannot hold 8 MB of events")
	require.ErrorIs(t, full, ErrDiskFull)
	require.ErrorIs(t, full, ErrFull)
	require.NoError(t, s.Err(), "a full disk does not fail the store")
	require.True(t, s.Full())
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.True(t, st.DiskFull)
	require.NotEmpty(t, acked)

	resize("64m")
	a, err := s.Append(t.Context(), NewEvent{Body: body, DedupeKey: "after"})
	require.NoError(t, err, "room again: the store recovers by itself")
	acked = append(acked, a.ID)
	require.False(t, s.Full())
	require.NoError(t, s.Commit(t.Context(), Batch{Cursor: 0}))

	require.NoError(t, s.Close())
	s = openT(t, dir, quiet)
	evs, err := s.ReadEvents(t.Context(), 0, 10000)
	require.NoError(t, err)
	got := map[int64]bool{}
	for _, e := range evs {
		got[e.ID] = true
	}
	for _, id := range acked {
		require.True(t, got[id], "acknowledged event %d lost", id)
	}
	if errors.Is(s.Err(), ErrFailed) {
		t.Fatal("reopened store failed")
	}
}
