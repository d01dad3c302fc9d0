package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/switchboard-dev/switchboard/engine"
)

// Snapshot is the content of the rules files read at one moment, and of
// the files they name (a `tests:` file, test payloads, list files), each
// read once, when the load first asks for it (ReadFile): what one load
// evaluates, and the checksum that tells whether anything changed. Every
// command and the service read rules through one.
type Snapshot struct {
	// Sources are the rules files in load order, named as the engine's
	// errors name them.
	Sources []engine.Source

	// read reads a named file; nil means os.ReadFile.
	read func(string) ([]byte, error)

	mu    sync.Mutex
	named []namedFile // in the order first read
	index map[string]int
}

// namedFile is one file the rules named, as read (or the error reading it).
type namedFile struct {
	name string
	data []byte
	err  error
}

// Files returns the names of the snapshot's rules files.
func (s *Snapshot) Files() []string {
	out := make([]string, len(s.Sources))
	for i, src := range s.Sources {
		out[i] = src.Name
	}
	return out
}

// Named returns the files the rules named and the load read through
// ReadFile, in the order first read (those that could not be read too).
func (s *Snapshot) Named() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.named))
	for i, f := range s.named {
		out[i] = f.name
	}
	return out
}

// NamedSources returns the files the rules named that could be read, with
// their content, in the order first read.
func (s *Snapshot) NamedSources() []engine.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []engine.Source
	for _, f := range s.named {
		if f.err == nil {
			out = append(out, engine.Source{Name: f.name, Data: f.data})
		}
	}
	return out
}

// ReadFile is the engine.Options.ReadFile of a load of this snapshot: a
// file the rules name is read once, and the same content (or error) is
// returned every time it is named again.
func (s *Snapshot) ReadFile(name string) ([]byte, error) {
	name = filepath.Clean(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[name]; ok {
		return s.named[i].data, s.named[i].err
	}
	read := s.read
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(name)
	if s.index == nil {
		s.index = map[string]int{}
	}
	s.index[name] = len(s.named)
	s.named = append(s.named, namedFile{name: name, data: data, err: err})
	return data, err
}

// Sum is a SHA-256 of every rules file's name and content and of every
// named file read so far, by name (a file that could not be read counts as
// such).
// Symlinks are followed: a Kubernetes `..data` swap changes it even
// though no event names the file.
func (s *Snapshot) Sum() string {
	h := sha256.New()
	for _, src := range s.Sources {
		fmt.Fprintf(h, "%s\x00%d\x00", src.Name, len(src.Data))
		h.Write(src.Data)
	}
	s.mu.Lock()
	// By name, not in the order read: senders are built in no set order.
	named := slices.SortedFunc(slices.Values(s.named), func(a, b namedFile) int { return strings.Compare(a.name, b.name) })
	for _, f := range named {
		if f.err != nil {
			fmt.Fprintf(h, "named\x00%s\x00unreadable\x00", f.name)
			continue
		}
		fmt.Fprintf(h, "named\x00%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
	}
	s.mu.Unlock()
	return hex.EncodeToString(h.Sum(nil))
}

// ErrMissing marks a configured rules path that does not exist (or a
// directory holding no rules file). While watching, it is taken as a file
// being replaced (deleted, then created again) rather than a change.
var ErrMissing = errors.New("rules missing")

// Expand returns the rules files paths stand for (engine.ExpandPaths: a
// file stands for itself, a directory for every *.yaml and *.yml file in
// it, sorted); a path that does not exist is ErrMissing.
func Expand(paths ...string) ([]string, error) {
	files, err := engine.ExpandPaths(paths...)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, engine.ErrNoRulesFiles) {
		return nil, missing{err}
	}
	return files, err
}

// Read reads the rules files paths stand for (see Expand) into a Snapshot.
// A file that vanishes between listing and reading is ErrMissing too. The
// files the rules name are read when the load asks (ReadFile).
func Read(paths ...string) (*Snapshot, error) {
	return read(paths, nil)
}

// read reads the rules files and then the named files, in order (the
// files a previous load of the same rules named), so that Sum is
// comparable with that load's.
func read(paths, named []string) (*Snapshot, error) {
	files, err := Expand(paths...)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Sources: make([]engine.Source, 0, len(files))}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, missing{fmt.Errorf("reading rules: %w", err)}
			}
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		snap.Sources = append(snap.Sources, engine.Source{Name: f, Data: data})
	}
	for _, n := range named {
		_, _ = snap.ReadFile(n)
	}
	return snap, nil
}

// Posted is the snapshot of rules sent over the API: rules are the rules
// files, named the files they name (by their path relative to the rules
// file, as the rules write it). Nothing is read from the machine: a file
// that is not among those posted is refused (engine.NoFiles).
func Posted(rules, named []engine.Source) *Snapshot {
	files := make(map[string][]byte, len(rules)+len(named))
	for _, f := range slices.Concat(rules, named) {
		files[filepath.Clean(f.Name)] = f.Data
	}
	return &Snapshot{Sources: rules, read: func(name string) ([]byte, error) {
		if data, ok := files[filepath.Clean(name)]; ok {
			return data, nil
		}
		return engine.NoFiles(name)
	}}
}

// missing is an error that is ErrMissing without saying so in its text.
type missing struct{ err error }

func (m missing) Error() string        { return m.err.Error() }
func (m missing) Unwrap() error        { return m.err }
func (m missing) Is(target error) bool { return target == ErrMissing }
