package store

import (
	"crypto/sha256"
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
	var sink atomic.Int32
	benchAppendParallel(b, func() { sink.Add(int32(handlerWork(body1K))) })
}
