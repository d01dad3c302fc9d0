package store

import (
	"context"
	"crypto/sha256"
	"strconv"
	"sync/atomic"
	"testing"
)

// handlerWork stands in for what a webhook handler does on the CPU before it
// calls Append (read the request, check the token, parse the JSON, derive
// the dedupe key): about 30 µs of hashing on this machine's cores.
func handlerWork(body []byte) byte {
	sum := sha256.Sum256(body)
	for range 24 {
		sum = sha256.Sum256(append(sum[:], body...))
	}
	return sum[0]
}

// BenchmarkAppendParallelWork is BenchmarkAppendParallel with each appender
// doing handler-like CPU work before every Append, as the service's HTTP
// handlers do. Run it with -cpu 1,2: under GOMAXPROCS=1 the appenders
// reach Append one at a time, and the writer must still group them.
func BenchmarkAppendParallelWork(b *testing.B) {
	s := openT(b, b.TempDir(), quiet)
	var n atomic.Int64
	var sink atomic.Int32
	durable := s.durable.Load()
	b.SetBytes(int64(len(body1K)))
	b.SetParallelism(appenders)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sink.Add(int32(handlerWork(body1K)))
			key := strconv.FormatInt(n.Add(1), 10)
			if _, err := s.Append(context.Background(), NewEvent{Body: body1K, DedupeKey: key}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(1, s.durable.Load()-durable)), "events/fsync")
}
