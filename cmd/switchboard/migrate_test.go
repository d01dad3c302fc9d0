package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

// TestMigrateCommand: `switchboard migrate` copies a data directory into a
// new database and says what it copied; it needs --store, and refuses a
// database that already holds data.
func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	s, err := store.Open(context.Background(), dir, store.Options{})
	require.NoError(t, err)
	_, err = s.Append(context.Background(), store.NewEvent{Body: []byte(`{}`), DedupeKey: "k"})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	code, _, errs := cli(t, "", "migrate", "--data", dir)
	require.Equal(t, 2, code)
	require.Contains(t, errs, "--store is required")

	url := pgtest.Database(t)
	code, out, errs := cli(t, "", "migrate", "--data", dir, "--store", url)
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "copied 1 events")
	code, _, errs = cli(t, "", "migrate", "--data", dir, "--store", url)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "already holds")
}
