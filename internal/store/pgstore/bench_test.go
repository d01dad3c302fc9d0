package pgstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

// BenchmarkAppendCooby measures durable parallel Appends of a real Cooby
// payload with the console's columns, their trigger and indexes (migration 2)
// and, as the baseline in the same run, with them dropped: the ingest cost
// of the console's filters on PostgreSQL.
//
//	go test -run '^$' -bench BenchmarkAppendCooby -count 6 ./internal/store/pgstore/
func BenchmarkAppendCooby(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "cooby", "received-chat.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		drop bool
	}{{"console-columns", false}, {"without", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			s, err := pgstore.Open(ctx, pgtest.Database(b), pgstore.Options{Instance: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if tc.drop {
				if _, err := s.Pool().Exec(ctx, `DROP TRIGGER events_fields ON events; ALTER TABLE events DROP COLUMN chat_id, DROP COLUMN chat_title,
					DROP COLUMN direction, DROP COLUMN msg_type, DROP COLUMN msg_text`); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetBytes(int64(len(body)))
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := strconv.FormatInt(n.Add(1), 10)
					if _, err := s.Append(ctx, store.NewEvent{Body: body, DedupeKey: key}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
