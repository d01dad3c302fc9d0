package reload_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/reload"
)

// TestReadMatchesLoadFiles: a snapshot holds the files engine.LoadFiles
// loads, in its order, under its names, and loads to the same version.
func TestReadMatchesLoadFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "b.yml"), "rules:\n  - {name: b, when: \"true\", actions: [{log: {message: b}}]}\n")
	write(t, filepath.Join(dir, "a.yaml"), "rules:\n  - {name: a, when: \"true\", actions: [{log: {message: a}}]}\n")
	write(t, filepath.Join(dir, "c.txt"), "not rules")
	single := filepath.Join(t.TempDir(), "one.yaml")
	write(t, single, "rules: []\n")

	opts := engine.Options{Kinds: builtin.Kinds()}
	want, err := engine.LoadFiles(opts, dir, single)
	require.NoError(t, err)
	snap, err := reload.Read(dir, single)
	require.NoError(t, err)
	require.Equal(t, want.Files, snap.Files())
	got, err := engine.Load(opts, snap.Sources...)
	require.NoError(t, err)
	require.Equal(t, want.Version, got.Version)
}

func TestSumFollowsContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, "v1")
	s1 := current(t, path).Sum()
	require.Equal(t, s1, current(t, path).Sum(), "stable")
	write(t, path, "v2")
	require.NotEqual(t, s1, current(t, path).Sum())

	// Through a symlink, the target's content counts.
	link := filepath.Join(dir, "link.yaml")
	require.NoError(t, os.Symlink(path, link))
	s2 := current(t, link).Sum()
	write(t, path, "v3")
	require.NotEqual(t, s2, current(t, link).Sum())
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := reload.Read(filepath.Join(dir, "nope.yaml"))
	require.ErrorIs(t, err, reload.ErrMissing)
	require.ErrorContains(t, err, "reading rules: stat")
	require.NotContains(t, err.Error(), "missing", "the message is the engine's")

	_, err = reload.Read(dir)
	require.ErrorIs(t, err, reload.ErrMissing)
	require.EqualError(t, err, "reading rules: no *.yaml or *.yml file in "+dir)

	// Not a missing file: a directory where a file should be read.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755))
	_, err = reload.Read(dir)
	require.Error(t, err)
	require.NotErrorIs(t, err, reload.ErrMissing)
}

// TestNamedFilesAreReadOnceAndHashed: a file the rules name is read once
// per snapshot (the same content however often it is named), is part of
// the sum, and posted rules read only posted files.
func TestNamedFilesAreReadOnceAndHashed(t *testing.T) {
	dir := t.TempDir()
	rules, list := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "list.txt")
	write(t, rules, "rules: []\n")
	write(t, list, "one")
	snap, err := reload.Read(rules)
	require.NoError(t, err)
	before := snap.Sum()
	data, err := snap.ReadFile(list)
	require.NoError(t, err)
	require.Equal(t, "one", string(data))
	require.NotEqual(t, before, snap.Sum(), "a named file counts in the sum")
	write(t, list, "two")
	data, err = snap.ReadFile(filepath.Join(dir, ".", "list.txt"))
	require.NoError(t, err)
	require.Equal(t, "one", string(data), "one snapshot: the content first read")
	require.Equal(t, []string{list}, snap.Named())
	_, err = snap.ReadFile(filepath.Join(dir, "nope.txt"))
	require.Error(t, err)
	require.Len(t, snap.NamedSources(), 1, "an unreadable file is named, not a source")

	posted := reload.Posted([]engine.Source{{Name: "r/rules.yaml", Data: []byte("rules: []\n")}},
		[]engine.Source{{Name: "r/lists/vip.txt", Data: []byte("+44 7700 900999")}})
	data, err = posted.ReadFile("r/lists/../lists/vip.txt")
	require.NoError(t, err)
	require.Equal(t, "+44 7700 900999", string(data))
	_, err = posted.ReadFile(list)
	require.ErrorContains(t, err, "rules sent to the service cannot name files")
}

// TestSumIgnoresReadOrder: the same files named in another order (senders
// are built in no set order) are the same content.
func TestSumIgnoresReadOrder(t *testing.T) {
	dir := t.TempDir()
	rules, a, b := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")
	write(t, rules, "rules: []\n")
	write(t, a, "a")
	write(t, b, "b")
	sum := func(order ...string) string {
		snap, err := reload.Read(rules)
		require.NoError(t, err)
		for _, f := range order {
			_, err := snap.ReadFile(f)
			require.NoError(t, err)
		}
		return snap.Sum()
	}
	require.Equal(t, sum(a, b), sum(b, a))
	require.NotEqual(t, sum(a, b), sum(a))
}
