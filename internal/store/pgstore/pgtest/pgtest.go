// Package pgtest gives each test a PostgreSQL database of its own.
//
// The server is SWITCHBOARD_TEST_POSTGRES (a postgres:// URL; default the
// local server, postgres://postgres@127.0.0.1:5432/postgres, trust auth).
// Where none is reachable the test is skipped with a message saying so;
// with CI set it fails instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tests use unless SWITCHBOARD_TEST_POSTGRES says.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the test server's URL.
func ServerURL() string {
	if u := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultURL
}

// Database creates a database with a unique name on the test server,
// drops it when the test ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server := ServerURL()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		msg := fmt.Sprintf("no PostgreSQL reachable at SWITCHBOARD_TEST_POSTGRES (or the default %s): %v", DefaultURL, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set: the PostgreSQL tests must run)")
		}
		t.Skip(msg + "; skipping the PostgreSQL tests")
	}
	defer conn.Close(context.Background())
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "switchboard_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(server, name)
}

// withDatabase replaces the database of a postgres:// URL.
func withDatabase(server, name string) string {
	u, err := url.Parse(server)
	if err != nil {
		return server + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}
