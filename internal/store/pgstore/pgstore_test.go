package pgstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

// TestNewerSchemaRefused: a database migrated by a newer program is not
// touched, with a message saying what to do.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	s, err := pgstore.Open(ctx, url, pgstore.Options{Instance: "a"})
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `UPDATE switchboard_schema SET version = version + 1`)
	require.NoError(t, err)
	s.Close()
	_, err = pgstore.Open(ctx, url, pgstore.Options{Instance: "a"})
	require.ErrorContains(t, err, "newer than this program knows")
}

// TestLateCommitIsNotSkipped: an event whose id is lower than one already
// evaluated, committed later (another instance's slow transaction), is
// still evaluated.
func TestLateCommitIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgstore.Options{Instance: "a"})
	ok, err := s.TryLease(ctx, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	tx, err := s.Pool().Begin(ctx)
	require.NoError(t, err)
	var low int64
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO events (received_at, body, size) VALUES (1, '\x7b7d', 2) RETURNING id`).Scan(&low))
	high, err := s.Append(ctx, store.NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	require.Greater(t, high.ID, low)
	evs, err := s.Unevaluated(ctx, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.NoError(t, s.Commit(ctx, store.Batch{Cursor: high.ID, Events: []int64{high.ID}, Version: "v"}))
	require.NoError(t, tx.Commit(ctx))
	evs, err = s.Unevaluated(ctx, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the late event is read although a higher id was evaluated")
	require.Equal(t, low, evs[0].ID)
}

// TestLeaseFencesCommit: one instance evaluates at a time; once another
// took the lapsed lease, the first one's commit is refused, and an event
// is never marked evaluated twice.
func TestLeaseFencesCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Database(t)
	a, err := pgstore.Open(ctx, url, pgstore.Options{Instance: "a"})
	require.NoError(t, err)
	defer a.Close()
	b, err := pgstore.Open(ctx, url, pgstore.Options{Instance: "b"})
	require.NoError(t, err)
	defer b.Close()

	ok, err := a.TryLease(ctx, 300*time.Millisecond)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = b.TryLease(ctx, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "the lease is held")
	require.ErrorIs(t, b.Commit(ctx, store.Batch{Version: "v"}), pgstore.ErrLeaseLost, "no commit without the lease")

	e, err := a.Append(ctx, store.NewEvent{Body: []byte(`{}`)})
	require.NoError(t, err)
	batch := store.Batch{Cursor: e.ID, Events: []int64{e.ID}, Version: "v",
		Matches: []store.Match{{EventID: e.ID, Rule: "r"}}}
	time.Sleep(400 * time.Millisecond) // a stalls past its lease
	ok, err = b.TryLease(ctx, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a lapsed lease is taken over")
	err = a.Commit(ctx, batch)
	require.ErrorIs(t, err, pgstore.ErrLeaseLost, "the old holder's commit is fenced")
	require.False(t, a.Holds())
	require.ErrorIs(t, a.RenewLease(ctx, time.Minute), pgstore.ErrLeaseLost)

	require.NoError(t, b.Commit(ctx, batch))
	err = b.Commit(ctx, batch)
	require.Error(t, err, "an event is evaluated once")
	require.False(t, errors.Is(err, pgstore.ErrLeaseLost))

	c, err := b.Cluster(ctx, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "b", c.Evaluator)
	require.EqualValues(t, 2, c.Epoch)
	require.NoError(t, b.DropLease(ctx))
	ok, err = a.TryLease(ctx, time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "a dropped lease is free at once")
}

// TestSharedHealth: updates of a destination's health from many instances
// at once are serialised by its row lock; a healthy destination keeps no
// row.
func TestSharedHealth(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgstore.Options{Instance: "a"})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			require.NoError(t, s.UpdateHealth(ctx, "crm", func(h *store.DestinationHealth) {
				h.Failures++
				h.Paused = h.Failures >= 3
			}))
		})
	}
	wg.Wait()
	m, err := s.UnhealthyDestinations(ctx)
	require.NoError(t, err)
	require.Equal(t, 20, m["crm"].Failures, "no update lost")
	require.True(t, m["crm"].Paused)
	require.NoError(t, s.UpdateHealth(ctx, "crm", func(h *store.DestinationHealth) { *h = store.DestinationHealth{} }))
	m, err = s.UnhealthyDestinations(ctx)
	require.NoError(t, err)
	require.Empty(t, m)
}
