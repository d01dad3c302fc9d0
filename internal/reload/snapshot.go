package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/switchboard-dev/switchboard/engine"
)

// Snapshot is the content of the rules files read at one moment: what one
// load evaluates, and the checksum that tells whether anything changed.
type Snapshot struct {
	// Sources are the rules files in load order, named as engine.LoadFiles
	// names them, so that errors point at the same paths.
	Sources []engine.Source
	// Sum is a SHA-256 of every file's name and content (symlinks are
	// followed: a Kubernetes `..data` swap changes it even though no event
	// names the file).
	Sum string
}

// Files returns the names of the snapshot's files.
func (s *Snapshot) Files() []string {
	out := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		out[i] = src.Name
	}
	return out
}

// ErrMissing marks a configured rules path that does not exist (or a
// directory holding no rules file). While watching, it is taken as a file
// being replaced (deleted, then created again) rather than a change.
var ErrMissing = errors.New("rules missing")

// Expand returns the rules files paths stand for, exactly as
// engine.LoadFiles expands them: a file stands for itself, a directory for
// every *.yaml and *.yml file in it, sorted.
func Expand(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, missing{fmt.Errorf("reading rules: %w", err)}
			}
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
			return nil, missing{fmt.Errorf("reading rules: no *.yaml or *.yml file in %s", p)}
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// Read reads the rules files paths stand for (see Expand) into a Snapshot.
// A file that vanishes between listing and reading is ErrMissing too.
func Read(paths ...string) (*Snapshot, error) {
	files, err := Expand(paths...)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Sources: make([]engine.Source, 0, len(files))}
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, missing{fmt.Errorf("reading rules: %w", err)}
			}
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
		snap.Sources = append(snap.Sources, engine.Source{Name: f, Data: data})
	}
	snap.Sum = hex.EncodeToString(h.Sum(nil))
	return snap, nil
}

// missing is an error that is ErrMissing without saying so in its text.
type missing struct{ err error }

func (m missing) Error() string        { return m.err.Error() }
func (m missing) Unwrap() error        { return m.err }
func (m missing) Is(target error) bool { return target == ErrMissing }
