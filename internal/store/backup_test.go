package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBackupUnderLoad takes a backup while appenders keep the writer busy,
// then opens the copy as a store of its own: every event acknowledged
// before the backup began is in it, and the copy is a store Open accepts.
func TestBackupUnderLoad(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet)

	var mu sync.Mutex
	var acked []int64
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("g%d-n%d", g, n)
				a, err := s.Append(ctx, NewEvent{Body: []byte(`{"k":"` + key + `"}`), DedupeKey: key})
				if ctx.Err() != nil {
					return // stored or not: never acknowledged
				}
				if err != nil {
					t.Errorf("append %s: %v", key, err)
					return
				}
				mu.Lock()
				acked = append(acked, a.ID)
				mu.Unlock()
			}
		})
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	deadline := time.Now().Add(30 * time.Second) // generous: the machines are shared
	for count() < 500 {
		require.False(t, time.Now().After(deadline), "appenders stalled at %d events", count())
		time.Sleep(5 * time.Millisecond)
	}

	mu.Lock()
	before := slices.Clone(acked)
	mu.Unlock()
	dest := filepath.Join(t.TempDir(), "backup.db")
	info, err := Backup(t.Context(), dir, dest)
	require.NoError(t, err)
	after := count()
	stop()
	wg.Wait()
	require.Equal(t, dest, info.Path)
	require.Positive(t, info.Bytes)
	require.GreaterOrEqual(t, info.Events, int64(len(before)))
	t.Logf("backup of %d events (%d bytes); %d acknowledged before, %d by its end", info.Events, info.Bytes, len(before), after)

	restored := t.TempDir()
	data, err := os.ReadFile(dest)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(restored, FileName), data, 0o600))
	r := openT(t, restored, quiet)
	have := map[int64]bool{}
	for last := int64(0); ; {
		evs, err := r.ReadEvents(t.Context(), last, 1000)
		require.NoError(t, err)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			have[e.ID] = true
			last = e.ID
		}
	}
	require.Len(t, have, int(info.Events))
	for _, id := range before {
		require.True(t, have[id], "event %d was acknowledged before the backup began but is not in it", id)
	}
	// The restored store goes on where the copy ends.
	a, err := r.Append(t.Context(), NewEvent{Body: []byte(`{}`), DedupeKey: "after-restore"})
	require.NoError(t, err)
	require.Greater(t, a.ID, slices.Max(before))
}

// TestBackupRefuses: the errors name what is wrong and leave nothing behind.
func TestBackupRefuses(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, quiet)
	_, err := s.Append(t.Context(), NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	exists := filepath.Join(t.TempDir(), "exists.db")
	require.NoError(t, os.WriteFile(exists, []byte("keep me"), 0o600))

	for _, tc := range []struct {
		name, dir, dest, want string
	}{
		{"no store", t.TempDir(), filepath.Join(t.TempDir(), "b.db"), "no store in"},
		{"destination exists", dir, exists, "already exists"},
		{"destination directory missing", dir, filepath.Join(t.TempDir(), "nope", "b.db"), "backup of "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Backup(t.Context(), tc.dir, tc.dest)
			require.ErrorContains(t, err, tc.want)
		})
	}
	data, err := os.ReadFile(exists)
	require.NoError(t, err)
	require.Equal(t, "keep me", string(data))
}
