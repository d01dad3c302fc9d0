package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ErrNoRulesFiles is the error (wrapped) of a rules directory that holds
// no *.yaml or *.yml file.
var ErrNoRulesFiles = errors.New("no rules files")

// ExpandPaths returns the rules files paths stand for: a file stands for
// itself, a directory for every *.yaml and *.yml file in it, sorted. It is
// the one expansion every command and the service use (see
// internal/reload.Read). A path that does not exist is an error wrapping
// fs.ErrNotExist; a directory without rules files one wrapping
// ErrNoRulesFiles.
func ExpandPaths(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var files []string
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(p, pat))
			if err != nil {
				return nil, fmt.Errorf("listing rules in %s: %w", p, err)
			}
			files = append(files, m...)
		}
		if len(files) == 0 {
			return nil, noRulesError{p}
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// LoadFiles reads and loads rules files; see Load and ExpandPaths. The
// files the rules name (tests, payloads, lists) are read with
// opts.ReadFile. Commands and the service read a reload.Snapshot instead,
// which records those too.
func LoadFiles(opts Options, paths ...string) (*RuleSet, error) {
	files, err := ExpandPaths(paths...)
	if err != nil {
		return nil, err
	}
	srcs := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return Load(opts, srcs...)
}

// noRulesError is ErrNoRulesFiles for one directory.
type noRulesError struct{ dir string }

func (e noRulesError) Error() string        { return "reading rules: no *.yaml or *.yml file in " + e.dir }
func (e noRulesError) Is(target error) bool { return target == ErrNoRulesFiles }
