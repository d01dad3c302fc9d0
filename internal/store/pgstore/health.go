package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/internal/store"
)

// UpdateHealth calls fn with dest's shared health (zero if none), holding
// its row locked, and stores what fn leaves: a zero health deletes the row.
func (s *Store) UpdateHealth(ctx context.Context, dest string, fn func(*store.DestinationHealth)) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO destination_health (destination) VALUES ($1) ON CONFLICT DO NOTHING`, dest); err != nil {
			return err
		}
		var (
			h            store.DestinationHealth
			failures     int32
			next, probes int64
		)
		if err := tx.QueryRow(ctx, `SELECT failures, paused, next_probe, probe_until FROM destination_health WHERE destination = $1 FOR UPDATE`, dest).
			Scan(&failures, &h.Paused, &next, &probes); err != nil {
			return err
		}
		h.Failures, h.NextProbe, h.ProbeUntil = int(failures), fromMS(next), fromMS(probes)
		fn(&h)
		if h.IsZero() {
			_, err := tx.Exec(ctx, `DELETE FROM destination_health WHERE destination = $1`, dest)
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE destination_health SET failures = $2, paused = $3, next_probe = $4, probe_until = $5 WHERE destination = $1`,
			dest, h.Failures, h.Paused, msOrZero(h.NextProbe), msOrZero(h.ProbeUntil))
		return err
	})
	if err != nil {
		return fmt.Errorf("update the health of destination %q: %w", dest, err)
	}
	return nil
}

// UnhealthyDestinations returns the shared health of every destination
// that has some.
func (s *Store) UnhealthyDestinations(ctx context.Context) (map[string]store.DestinationHealth, error) {
	out := map[string]store.DestinationHealth{}
	err := scanRows(ctx, s.pool, `SELECT destination, failures, paused, next_probe, probe_until FROM destination_health`, nil, func(r pgx.Rows) error {
		var (
			dest         string
			h            store.DestinationHealth
			failures     int32
			next, probes int64
		)
		if err := r.Scan(&dest, &failures, &h.Paused, &next, &probes); err != nil {
			return err
		}
		h.Failures, h.NextProbe, h.ProbeUntil = int(failures), fromMS(next), fromMS(probes)
		out[dest] = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the destinations' health: %w", err)
	}
	return out, nil
}
