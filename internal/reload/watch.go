package reload

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"
)

// dirWatcher watches the directories the rules live in, never the files:
// an editor's save-by-rename silently ends a watch on the file, and a
// Kubernetes ConfigMap update only swaps a `..data` symlink in the
// directory. Every event, whatever its name, means "maybe changed"; the
// checksum decides.
type dirWatcher struct {
	w     *fsnotify.Watcher
	paths []string
	// named returns the files the running rules name (tests, payloads,
	// lists), whose directories are watched too.
	named func() []string
	log   *slog.Logger
}

func newDirWatcher(paths []string, named func() []string, log *slog.Logger) (*dirWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	abs := make([]string, 0, len(paths))
	for _, p := range paths {
		if a, err := filepath.Abs(p); err == nil {
			p = a
		}
		abs = append(abs, filepath.Clean(p))
	}
	d := &dirWatcher{w: w, paths: abs, named: named, log: log}
	d.sync()
	return d, nil
}

func (d *dirWatcher) close() error { return d.w.Close() }

// sync makes the watched set the wanted one: directories that were removed
// (and so lost their watch) are watched again once they exist, and a
// symlink's new target directory is watched too.
func (d *dirWatcher) sync() {
	want := d.wanted()
	have := d.w.WatchList()
	for _, dir := range want {
		if slices.Contains(have, dir) {
			continue
		}
		if err := d.w.Add(dir); err != nil {
			// The poll still covers these rules; ENOSPC here means
			// fs.inotify.max_user_watches is too low.
			d.log.Warn("reload: cannot watch a rules directory; relying on the checksum poll", "dir", dir, "err", err)
			continue
		}
		d.log.Debug("reload: watching", "dir", dir)
	}
	for _, dir := range have {
		if !slices.Contains(want, dir) {
			_ = d.w.Remove(dir)
		}
	}
}

// wanted lists the directories to watch: each configured directory (and,
// if it is a symlink, its parent, where a swap of the link shows), the
// directory of each configured file, and the directories symlinked rules
// files resolve to, and the same for each file the rules name. A
// directory that does not exist is stood for by its
// nearest existing ancestor, so that its re-creation is seen.
func (d *dirWatcher) wanted() []string {
	var out []string
	add := func(dir string) {
		dir = existingAncestor(filepath.Clean(dir))
		if dir != "" && !slices.Contains(out, dir) {
			out = append(out, dir)
		}
	}
	for _, p := range d.paths {
		st, err := os.Stat(p)
		if err != nil || !st.IsDir() {
			add(filepath.Dir(p))
			addTarget(p, add)
			continue
		}
		add(p)
		if lst, err := os.Lstat(p); err == nil && lst.Mode()&fs.ModeSymlink != 0 {
			add(filepath.Dir(p))
			addTarget(p, add)
		}
		files, _ := Expand(p)
		for _, f := range files {
			addTarget(f, add)
		}
	}
	if d.named != nil {
		for _, f := range d.named() {
			if a, err := filepath.Abs(f); err == nil {
				f = a
			}
			add(filepath.Dir(f))
			addTarget(f, add)
		}
	}
	return out
}

// addTarget adds the directory a symlinked path finally resolves to: for a
// directory, itself; for a file, its directory.
func addTarget(p string, add func(string)) {
	lst, err := os.Lstat(p)
	if err != nil || lst.Mode()&fs.ModeSymlink == 0 {
		return
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return
	}
	if st, err := os.Stat(real); err == nil && st.IsDir() {
		add(real)
		return
	}
	add(filepath.Dir(real))
}

// existingAncestor returns dir, or its nearest ancestor that exists as a
// directory ("" if none does).
func existingAncestor(dir string) string {
	for {
		if st, err := os.Stat(dir); err == nil && st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
