package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/storetest"
)

// TestContract runs the store contract against the SQLite store.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		s, err := store.Open(context.Background(), t.TempDir(), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConsoleContract runs the console's reads against the SQLite store.
func TestConsoleContract(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T, now func() time.Time) storetest.ConsoleStore {
		s, err := store.Open(context.Background(), t.TempDir(), store.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
