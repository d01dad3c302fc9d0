package reload_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/reload"
)

const debounce = 100 * time.Millisecond

// watching runs a Reloader with real file-system events and no poll, so
// that only events can cause a reload.
func watching(t *testing.T, paths ...string) *loader {
	t.Helper()
	l := &loader{paths: paths}
	// The running rules, loaded as the service loads them at startup (so
	// the files they name are known).
	first, err := l.reload(t.Context(), "startup")
	require.NoError(t, err)
	l.loads, l.causes = 0, nil
	r := reload.New(reload.Options{
		Paths: paths, Reload: l.reload, Current: first,
		Debounce: debounce, Poll: -1, Logger: quiet(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	time.Sleep(debounce) // let the watches be set up
	return l
}

// expectOneReload waits for the content to be loaded, then a while more,
// and checks that it took exactly one reload.
func expectOneReload(t *testing.T, l *loader, want string) {
	t.Helper()
	waitFor(t, "new rules loaded", func() bool { _, c := l.state(); return c == want })
	time.Sleep(3 * debounce)
	loads, content := l.state()
	require.Equal(t, 1, loads, "reloads")
	require.Equal(t, want, content)
}

func TestWatchEditInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, "v1")
	l := watching(t, path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	for _, part := range []string{"v", "2", "-in-place"} { // several writes
		_, err = f.WriteString(part)
		require.NoError(t, err)
	}
	require.NoError(t, f.Close())
	expectOneReload(t, l, "v2-in-place")
}

func TestWatchSaveByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "v1")
	l := watching(t, path)
	tmp := filepath.Join(dir, ".rules.yaml.swp")
	write(t, tmp, "v2")
	require.NoError(t, os.Rename(tmp, path))
	expectOneReload(t, l, "v2")
	// The watch survived the rename: a second save is seen too.
	write(t, tmp, "v3")
	require.NoError(t, os.Rename(tmp, path))
	waitFor(t, "second save loaded", func() bool { _, c := l.state(); return c == "v3" })
}

func TestWatchDeleteAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	write(t, path, "v1")
	l := watching(t, path)
	require.NoError(t, os.Remove(path))
	time.Sleep(5 * debounce) // the file is missing for a while
	loads, _ := l.state()
	require.Zero(t, loads)
	write(t, path, "v2")
	expectOneReload(t, l, "v2")
}

func TestWatchFileAddedToDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), "a1;")
	l := watching(t, dir)
	write(t, filepath.Join(dir, "b.yml"), "b1;")
	expectOneReload(t, l, "a1;b1;")
	// A file that is not rules changes nothing.
	write(t, filepath.Join(dir, "notes.txt"), "hello")
	time.Sleep(3 * debounce)
	loads, _ := l.state()
	require.Equal(t, 1, loads)
}

func TestWatchDirectoryRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	require.NoError(t, os.Mkdir(dir, 0o755))
	write(t, filepath.Join(dir, "a.yaml"), "v1")
	l := watching(t, dir)
	require.NoError(t, os.RemoveAll(dir))
	time.Sleep(5 * debounce)
	require.NoError(t, os.Mkdir(dir, 0o755))
	time.Sleep(5 * debounce) // an empty directory is still "missing"
	write(t, filepath.Join(dir, "a.yaml"), "v2")
	expectOneReload(t, l, "v2")
	// The new directory is watched itself.
	write(t, filepath.Join(dir, "a.yaml"), "v3")
	waitFor(t, "edit in the new directory loaded", func() bool { _, c := l.state(); return c == "v3" })
}

// TestWatchConfigMapSwap does what the kubelet does to a mounted
// ConfigMap: the files live in a timestamped directory, `..data` links to
// it, rules.yaml links to ..data/rules.yaml; an update writes a new
// directory, points a `..data_tmp` link at it and renames that over
// `..data`. No event names rules.yaml.
func TestWatchConfigMapSwap(t *testing.T) {
	for _, mode := range []string{"file", "directory"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.Mkdir(filepath.Join(dir, "..2026_01"), 0o755))
			write(t, filepath.Join(dir, "..2026_01", "rules.yaml"), "v1")
			require.NoError(t, os.Symlink("..2026_01", filepath.Join(dir, "..data")))
			require.NoError(t, os.Symlink(filepath.Join("..data", "rules.yaml"), filepath.Join(dir, "rules.yaml")))
			path := dir
			if mode == "file" {
				path = filepath.Join(dir, "rules.yaml")
			}
			l := watching(t, path)

			require.NoError(t, os.Mkdir(filepath.Join(dir, "..2026_02"), 0o755))
			write(t, filepath.Join(dir, "..2026_02", "rules.yaml"), "v2")
			require.NoError(t, os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")))
			require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
			require.NoError(t, os.RemoveAll(filepath.Join(dir, "..2026_01")))
			expectOneReload(t, l, "v2")
		})
	}
}

// TestWatchSymlinkedFileElsewhere: rules.yaml links to a file in another
// directory, which is edited in place; its directory is watched too.
func TestWatchSymlinkedFileElsewhere(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real.yaml")
	write(t, real, "v1")
	link := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.Symlink(real, link))
	l := watching(t, link)
	write(t, real, "v2")
	expectOneReload(t, l, "v2")
}

// TestWatchNamedFileElsewhere: a file the rules name (a list or tests file)
// in another directory is watched too, and its edit is one reload.
func TestWatchNamedFileElsewhere(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	list := filepath.Join(t.TempDir(), "vip.txt")
	write(t, list, "ann")
	write(t, rules, "v1\nread "+list)
	l := watching(t, rules)
	write(t, list, "bob")
	expectOneReload(t, l, "v1\nread "+list+"+bob")
}
