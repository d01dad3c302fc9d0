package store

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// The console's reads are tested on both stores by the contract
// (storetest.RunConsole, from contract_test.go).

// BenchmarkAppendCooby measures durable parallel Appends of a real Cooby
// payload with the console's indexes over the body's fields (migration
// 12) and, as the baseline in the same run, with those indexes dropped:
// the ingest cost of the console's filters.
//
//	go test -run '^$' -bench BenchmarkAppendCooby -count 6 ./internal/store/
func BenchmarkAppendCooby(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "cooby", "received-chat.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		drop bool
	}{{"console-indexes", false}, {"without", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := openT(b, b.TempDir(), quiet)
			if tc.drop {
				err := s.write(context.Background(), func(w *wtx) error {
					for _, idx := range []string{"events_chat", "events_direction", "events_type"} {
						if _, err := w.exec(`DROP INDEX ` + idx); err != nil {
							return err
						}
					}
					return nil
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			b.SetBytes(int64(len(body)))
			b.SetParallelism(appenders)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := strconv.FormatInt(n.Add(1), 10)
					if _, err := s.Append(context.Background(), NewEvent{Body: body, DedupeKey: key}); err != nil {
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
