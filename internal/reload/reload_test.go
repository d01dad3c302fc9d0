package reload_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/reload"
)

// bubble starts a Reloader without file watching inside a synctest bubble
// (fake time), on one rules file holding "v1".
func bubble(t *testing.T, poll time.Duration) (*reload.Reloader, *loader, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, "v1")
	l := &loader{paths: []string{path}}
	r := reload.New(reload.Options{
		Paths: l.paths, Reload: l.reload, Current: current(t, path),
		Debounce: 200 * time.Millisecond, Poll: poll, NoWatch: true, Logger: quiet(),
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	synctest.Wait()
	return r, l, path
}

func TestBurstIsOneReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l, path := bubble(t, -1)
		for i := range 10 {
			write(t, path, "v"+string(rune('2'+i%2)))
			r.Changed()
			time.Sleep(50 * time.Millisecond) // shorter than the debounce
			synctest.Wait()
			loads, _ := l.state()
			require.Zero(t, loads, "reloaded before the files were quiet")
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 1, loads)
		require.Equal(t, "v3", content)
	})
}

func TestUnchangedContentDoesNotReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l, path := bubble(t, time.Second)
		write(t, path, "v1") // an event, same bytes
		r.Changed()
		time.Sleep(10 * time.Second) // debounce and ten polls
		synctest.Wait()
		loads, _ := l.state()
		require.Zero(t, loads)
	})
}

func TestPollSeesChangeWithoutEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, l, path := bubble(t, 30*time.Second)
		write(t, path, "v2") // no Changed: an NFS mount sends no events
		time.Sleep(29 * time.Second)
		synctest.Wait()
		loads, _ := l.state()
		require.Zero(t, loads)
		time.Sleep(time.Second)
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 1, loads)
		require.Equal(t, "v2", content)
		require.Equal(t, []string{reload.CausePoll}, l.causes)
	})
}

func TestSteadyEventsStillCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l, path := bubble(t, -1)
		write(t, path, "v2")
		for range 30 { // 3 s of events every 100 ms, never quiet for 200 ms
			r.Changed()
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 1, loads, "checked once within 10 debounce periods")
		require.Equal(t, "v2", content)
	})
}

func TestTriggerReloadsUnchangedAndReportsOutcome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l, path := bubble(t, -1)
		require.NoError(t, r.Trigger(t.Context(), "SIGHUP"))
		write(t, path, "broken")
		require.ErrorContains(t, r.Trigger(t.Context(), "api"), "rules.yaml:1:1: broken")
		// The failed content is not retried on every event...
		r.Changed()
		time.Sleep(time.Second)
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 2, loads)
		require.Equal(t, "v1", content)
		// ...and the next good save recovers.
		write(t, path, "v2")
		r.Changed()
		time.Sleep(time.Second)
		synctest.Wait()
		loads, content = l.state()
		require.Equal(t, 3, loads)
		require.Equal(t, "v2", content)
		require.Equal(t, []string{"SIGHUP", "api", reload.CauseChange}, l.causes)
	})
}

func TestMissingRulesAreWaitedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, l, path := bubble(t, time.Second)
		require.NoError(t, os.Remove(path))
		r.Changed()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		loads, _ := l.state()
		require.Zero(t, loads, "a missing file is not a reload")
		write(t, path, "v2")
		time.Sleep(time.Second)
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 1, loads)
		require.Equal(t, "v2", content)
		// An explicit trigger does report the missing file.
		require.NoError(t, os.Remove(path))
		err := r.Trigger(t.Context(), "api")
		require.ErrorIs(t, err, reload.ErrMissing)
		require.ErrorContains(t, err, "no such file")
	})
}

func TestTriggerWithoutRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, "broken")
	l := &loader{paths: []string{path}}
	r := reload.New(reload.Options{Paths: l.paths, Reload: l.reload, Logger: quiet()})
	require.ErrorContains(t, r.Trigger(context.Background(), "api"), "broken")
	loads, _ := l.state()
	require.Equal(t, 1, loads)
	require.Error(t, reload.New(reload.Options{}).Run(context.Background()))
}

func TestTriggerCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r, _, _ := bubble(t, -1)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := r.Trigger(ctx, "api")
		if err != nil { // the loop may have taken the request first
			require.True(t, errors.Is(err, context.Canceled))
		}
	})
}

// TestPollSeesNamedFileChange: the checksum covers the files the rules
// name, so editing only a list file is a change.
func TestPollSeesNamedFileChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		path, list := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "list.txt")
		write(t, list, "a")
		write(t, path, "v1\nread "+list)
		l := &loader{paths: []string{path}}
		first, err := l.reload(t.Context(), "startup")
		require.NoError(t, err)
		r := reload.New(reload.Options{Paths: l.paths, Reload: l.reload, Current: first, Poll: 30 * time.Second, NoWatch: true, Logger: quiet()})
		require.Equal(t, []string{list}, r.Named())
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		defer func() { cancel(); require.NoError(t, <-done) }()
		time.Sleep(31 * time.Second)
		synctest.Wait()
		loads, _ := l.state()
		require.Equal(t, 1, loads, "unchanged: only the startup load")
		write(t, list, "b")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		loads, content := l.state()
		require.Equal(t, 2, loads)
		require.Equal(t, "v1\nread "+list+"+b", content)
	})
}
