package store

import (
	"context"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPruneOldUnderIngest prunes a store of old, dispatched events
// (100,000; SWITCHBOARD_BENCH_PRUNE_EVENTS=1000000 for the million)
// while 8 appenders keep appending, and reports the appenders' answer
// latency while the pass ran (p50, p99, max) and the events pruned per
// second; idle is the same appenders on the same store without a pass, for
// comparison. The store is filled with one INSERT (not timed).
func BenchmarkPruneOldUnderIngest(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchPrune(b, false) })
	b.Run("pruning", func(b *testing.B) { benchPrune(b, true) })
}

func benchPrune(b *testing.B, prune bool) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SWITCHBOARD_BENCH_PRUNE_EVENTS")); err == nil && v > 0 {
		n = v
	}
	old := time.Now().Add(-90 * 24 * time.Hour)
	for b.Loop() {
		b.StopTimer()
		s := openT(b, b.TempDir(), quiet)
		ctx := context.Background()
		err := s.write(ctx, func(w *wtx) error {
			if _, err := w.exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
				INSERT INTO events (received_at, body, size, dedupe_key) SELECT ?, zeroblob(1024), 1024, NULL FROM seq`, n, ms(old)); err != nil {
				return err
			}
			_, err := w.exec(`UPDATE cursors SET position = (SELECT MAX(id) FROM events) WHERE name = ?`, dispatchCursor)
			return err
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		s.events.Add(int64(n))
		b.StartTimer()

		var stop atomic.Bool
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		var seq atomic.Int64
		for range 8 {
			wg.Go(func() {
				for !stop.Load() {
					t := time.Now()
					if _, err := s.Append(ctx, NewEvent{Body: body1K, DedupeKey: strconv.FormatInt(seq.Add(1), 10)}); err != nil {
						b.Error(err)
						return
					}
					d := time.Since(t)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
		}
		start := time.Now()
		var p Pruned
		if prune {
			p, err = s.PruneOld(ctx, time.Now().Add(-30*24*time.Hour), PruneBatch)
		} else {
			for seq.Load() < 20_000 && !b.Failed() {
				time.Sleep(time.Millisecond)
			}
		}
		took := time.Since(start)
		stop.Store(true)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if prune && p.Events != int64(n) {
			b.Fatalf("pruned %d events, want %d", p.Events, n)
		}
		if len(lat) == 0 {
			b.Fatal("no append finished while the pass ran")
		}
		slices.Sort(lat)
		q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
		b.ReportMetric(q(0.5), "append-p50-ms")
		b.ReportMetric(q(0.99), "append-p99-ms")
		b.ReportMetric(q(1), "append-max-ms")
		if prune {
			b.ReportMetric(float64(n)/took.Seconds(), "pruned/s")
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
