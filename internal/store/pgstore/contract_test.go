package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/internal/console"
	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
	"github.com/switchboard-dev/switchboard/internal/store/storetest"
)

// open returns a store on a database of the test's own, holding the
// evaluation lease.
func open(t *testing.T, opt pgstore.Options) *pgstore.Store {
	t.Helper()
	url := pgtest.Database(t)
	s, err := pgstore.Open(context.Background(), url, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the store contract against the PostgreSQL store.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend {
		s := open(t, pgstore.Options{Instance: "a"})
		if ok, err := s.TryLease(context.Background(), time.Minute); err != nil || !ok {
			t.Fatalf("take the lease: %v %v", ok, err)
		}
		return s
	})
}

// TestConsoleContract runs the console's reads against the PostgreSQL
// store.
func TestConsoleContract(t *testing.T) {
	storetest.RunConsole(t, func(t *testing.T, now func() time.Time) storetest.ConsoleStore {
		s := open(t, pgstore.Options{Instance: "a", Now: now})
		if ok, err := s.TryLease(context.Background(), time.Minute); err != nil || !ok {
			t.Fatalf("take the lease: %v %v", ok, err)
		}
		return s
	})
}

// The console serves from the PostgreSQL store.
var _ console.Store = (*pgstore.Store)(nil)
