package store

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// quiet is the base Options for tests: no log noise from expected failures.
var quiet = Options{Logger: slog.New(slog.DiscardHandler)}

// openT opens a store in dir and closes it when the test ends.
func openT(t testing.TB, dir string, opt Options) *Store {
	t.Helper()
	if opt.Logger == nil {
		opt.Logger = quiet.Logger
	}
	s, err := Open(context.Background(), dir, opt)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// appendT appends body with key and returns the result.
func appendT(t testing.TB, s *Store, body, key string) Appended {
	t.Helper()
	a, err := s.Append(context.Background(), NewEvent{Body: []byte(body), DedupeKey: key})
	require.NoError(t, err)
	return a
}

func TestOpen_MigratesAndReopens(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested dir", "data?#%20é")
	s := openT(t, dir, quiet)
	require.NoError(t, s.Close())

	var version int
	var mode string
	db, err := sql.Open("sqlite", dsn(filepath.Join(dir, FileName)))
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&version))
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, len(migrations), version)
	require.Equal(t, "wal", mode)

	// Reopening applies nothing and works.
	s = openT(t, dir, quiet)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.Zero(t, st.Events)
	var sync int
	require.NoError(t, s.wconn.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&sync))
	require.Equal(t, 2, sync, "synchronous must be FULL")
	require.NoError(t, s.Close())

	// A second process (or Store) cannot open the directory meanwhile.
	s = openT(t, dir, quiet)
	_, err = Open(t.Context(), dir, quiet)
	require.ErrorContains(t, err, "in use by another process")
	require.NoError(t, s.Close())

	// A file from a newer program is refused.
	_, err = db.Exec("PRAGMA user_version = 99")
	require.NoError(t, err)
	_, err = Open(t.Context(), dir, quiet)
	require.ErrorContains(t, err, "schema version 99 is newer")
}

// TestOpen_MigratesVersion1File opens a file written by the first schema
// (before duplicate copies existed): its events read back as originals and
// dedupe keeps working across the upgrade.
func TestOpen_MigratesVersion1File(t *testing.T) {
	dir := t.TempDir()
	func() {
		db, err := sql.Open("sqlite", dsn(filepath.Join(dir, FileName), "journal_mode(WAL)"))
		require.NoError(t, err)
		defer db.Close()
		conn, err := db.Conn(t.Context())
		require.NoError(t, err)
		defer conn.Close()
		require.NoError(t, applyMigration(t.Context(), conn, 1, migrations[0]))
		_, err = conn.ExecContext(t.Context(),
			`INSERT INTO events (received_at, body, size, dedupe_key) VALUES (1, 'old', 3, 'k')`)
		require.NoError(t, err)
		_, err = conn.ExecContext(t.Context(), `INSERT INTO dedupe (key, event_id, seen_at) VALUES ('k', 1, 1)`)
		require.NoError(t, err)
	}()

	s := openT(t, dir, quiet)
	var version int
	require.NoError(t, s.wconn.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version))
	require.Equal(t, len(migrations), version)
	dup := appendT(t, s, "new", "k")
	require.Equal(t, Appended{ID: 1, Duplicate: true, Row: dup.Row}, dup)
	evs, err := s.ReadEvents(t.Context(), 0, 10)
	require.NoError(t, err)
	require.Equal(t, []eventRow{{1, "old", "k", 0}, {dup.Row, "new", "k", 1}}, rowsOf(evs))
}

func TestAppend_SurvivesReopenByteExact(t *testing.T) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"json", []byte(`{"message":{"id":"3EB0","text":"hi"},"timestamp":"1628843453"}`)},
		{"empty", []byte{}},
		{"nil", nil},
		{"nul and invalid utf8", []byte("a\x00b\xff\xfe\u2028c")},
		{"1 MiB", bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<18)},
	}
	dir := t.TempDir()
	s := openT(t, dir, quiet)
	ids := map[int64][]byte{}
	for _, b := range bodies {
		a, err := s.Append(t.Context(), NewEvent{Body: b.body, ReceivedAt: time.Unix(1628843453, 0)})
		require.NoError(t, err, b.name)
		require.False(t, a.Duplicate)
		want := b.body
		if want == nil {
			want = []byte{}
		}
		ids[a.ID] = want
	}
	require.NoError(t, s.Close())

	s = openT(t, dir, quiet)
	evs, err := s.ReadEvents(t.Context(), 0, 100)
	require.NoError(t, err)
	require.Len(t, evs, len(bodies))
	for i, e := range evs {
		require.Equal(t, ids[e.ID], e.Body, bodies[i].name)
		require.Equal(t, time.Unix(1628843453, 0).UTC(), e.ReceivedAt)
		if i > 0 {
			require.Greater(t, e.ID, evs[i-1].ID)
		}
	}
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.EqualValues(t, len(bodies), st.Events)

	evs, err = s.ReadEvents(t.Context(), evs[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	_, err = s.ReadEvents(t.Context(), 0, 0)
	require.Error(t, err)
}

func TestClose_LaterCallsFail(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	appendT(t, s, "x", "")
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")

	_, err := s.Append(t.Context(), NewEvent{Body: []byte("y")})
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Claim(t.Context(), time.Now(), 1, time.Minute)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.Quarantine(t.Context(), []byte("z"), "bad")
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Commit(t.Context(), Batch{Cursor: 1}), ErrClosed)
}

func TestAppend_CanceledContext(t *testing.T) {
	s := openT(t, t.TempDir(), quiet)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Append(ctx, NewEvent{Body: []byte("x")})
	require.ErrorIs(t, err, context.Canceled)
	st, err := s.Stats(t.Context())
	require.NoError(t, err)
	require.Zero(t, st.Events)
	require.Zero(t, st.BacklogBytes, "the reservation is released")
}

// TestAppend_SurvivesKill9 appends from a child process, kills it with
// SIGKILL mid-stream, and checks that every acknowledged event is on disk.
// (kill -9 exercises WAL recovery, not fsync; power loss needs LazyFS.)
func TestAppend_SurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STORE_KILL9_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	acked := map[int64]string{}
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue
		}
		id, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		acked[id] = f[2]
	}
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Len(t, acked, 300, "child stopped early")

	s := openT(t, dir, quiet)
	got := map[int64]string{}
	for after := int64(0); ; {
		evs, err := s.ReadEvents(t.Context(), after, 500)
		require.NoError(t, err)
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			got[e.ID] = string(e.Body)
		}
		after = evs[len(evs)-1].ID
	}
	for id, body := range acked {
		require.Equal(t, body, got[id], "acknowledged event %d lost", id)
	}
}

// TestKill9Child is the child of TestAppend_SurvivesKill9; it does nothing
// unless STORE_KILL9_DIR is set. It appends until killed.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv("STORE_KILL9_DIR")
	if dir == "" {
		t.Skip("run by TestAppend_SurvivesKill9")
	}
	s, err := Open(context.Background(), dir, quiet)
	require.NoError(t, err)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				body := fmt.Sprintf("g%d-n%d", g, n)
				a, err := s.Append(context.Background(), NewEvent{Body: []byte(body), DedupeKey: body})
				if err != nil {
					return
				}
				mu.Lock()
				fmt.Printf("ack %d %s\n", a.ID, body)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Error(errors.New("appenders stopped before the kill"))
}
