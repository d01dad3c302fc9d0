package reload_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/reload"
)

// loader is a fake reload.Func: it reads the rules like the service does
// (the files they name, "read PATH" lines, through the snapshot), records
// what it read, and fails when the content says "broken".
type loader struct {
	paths []string

	mu      sync.Mutex
	loads   int
	causes  []string
	content string // of the last successful load
}

func (l *loader) reload(_ context.Context, cause string) (*reload.Snapshot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loads++
	l.causes = append(l.causes, cause)
	snap, err := reload.Read(l.paths...)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, s := range snap.Sources {
		b.Write(s.Data)
	}
	// A line "read PATH" names a file, as a tests: or a list file does:
	// it is read through the snapshot and its content follows.
	for _, line := range strings.Split(b.String(), "\n") {
		if name, ok := strings.CutPrefix(line, "read "); ok {
			data, err := snap.ReadFile(name)
			if err != nil {
				return snap, err
			}
			b.WriteString("+" + string(data))
		}
	}
	if strings.Contains(b.String(), "broken") {
		return snap, errors.New("rules.yaml:1:1: broken")
	}
	l.content = b.String()
	return snap, nil
}

func (l *loader) state() (loads int, content string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loads, l.content
}

// current returns a snapshot of the rules on disk now.
func current(t *testing.T, paths ...string) *reload.Snapshot {
	t.Helper()
	snap, err := reload.Read(paths...)
	require.NoError(t, err)
	return snap
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// waitFor polls cond for up to 30 s with real time: file-system events on
// a shared machine can be slow, so deadlines are generous and durations
// are never asserted.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
