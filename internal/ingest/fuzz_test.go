package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// FuzzIngest posts arbitrary bodies: the handler never panics, answers 202
// (or 200 for a repeat) exactly when the body decodes as a Cooby payload,
// and 400 otherwise.
func FuzzIngest(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/cooby/*.json")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{``, `[]`, `{"direction":5}`, `{"message":null}`, `{"a":` + string(bytes.Repeat([]byte("["), 1000))} {
		f.Add([]byte(s))
	}
	// The store is a seam here: fuzzing instruments every package for
	// coverage, and the SQLite driver's transpiled C would make each run
	// crawl. The real store is behind every other ingest test.
	st := &memStore{}
	h := ingest.New(ingest.Options{Store: st, Tokens: []string{token}, Logger: slog.New(slog.DiscardHandler)})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/hooks/cooby/"+token, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		_, decodeErr := engine.Decode(body)
		switch {
		case decodeErr == nil && rec.Code != http.StatusAccepted && rec.Code != http.StatusOK:
			t.Fatalf("valid payload answered %d: %s", rec.Code, rec.Body)
		case decodeErr != nil && rec.Code != http.StatusBadRequest:
			t.Fatalf("invalid payload (%v) answered %d", decodeErr, rec.Code)
		}
	})
}

// memStore keeps appends in memory, for fuzzing.
type memStore struct {
	mu sync.Mutex
	n  int64
}

func (m *memStore) Append(_ context.Context, _ store.NewEvent) (store.Appended, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return store.Appended{ID: m.n, Row: m.n}, nil
}

func (m *memStore) Quarantine(context.Context, []byte, string) (int64, error) { return 1, nil }
