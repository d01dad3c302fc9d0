package delivery_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// BenchmarkDeliverUnderIngest measures deliveries while concurrent Appends
// saturate the store's writer: 32 appenders per GOMAXPROCS, each doing
// handler-like CPU work before every durable Append of 1 KiB, beside a
// Deliverer (8 workers) sending jobs enqueued beforehand to a sink that
// answers at once. It reports both rates; deliveries must not starve.
func BenchmarkDeliverUnderIngest(b *testing.B) {
	s, err := store.Open(context.Background(), b.TempDir(), store.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const jobs = 100_000
	seed(b, s, jobs)

	var delivered atomic.Int64
	nop := actions.SenderFunc(func(context.Context, actions.Request) error { return nil })
	d := delivery.New(delivery.Options{Outbox: s, Senders: senders(nop), Logger: quiet,
		OnResult: func(string, string, string, time.Duration) { delivered.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()

	body := bytes.Repeat([]byte("x"), 1024)
	var n atomic.Int64
	var sink atomic.Int32
	b.SetParallelism(32)
	b.ResetTimer()
	d0 := delivered.Load()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sink.Add(int32(work(body)))
			key := strconv.FormatInt(n.Add(1), 10)
			if _, err := s.Append(context.Background(), store.NewEvent{Body: body, DedupeKey: key}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	got := delivered.Load() - d0
	cancel()
	if err := <-ran; err != nil {
		b.Fatal(err)
	}
	if got >= jobs {
		b.Log("the deliverer ran out of jobs: the rate is a lower bound")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "deliveries/s")
}

// work stands in for a webhook handler's CPU work before Append.
func work(body []byte) byte {
	sum := sha256.Sum256(body)
	for range 24 {
		sum = sha256.Sum256(append(sum[:], body...))
	}
	return sum[0]
}

// seed stores one event with n http jobs, due now.
func seed(b *testing.B, s *store.Store, n int) {
	b.Helper()
	ctx := context.Background()
	ev, err := s.Append(ctx, store.NewEvent{Body: []byte(`{}`)})
	if err != nil {
		b.Fatal(err)
	}
	data, err := delivery.EncodeRequest(actions.Request{Kind: "http", Destination: "crm", Body: []byte(`{}`)})
	if err != nil {
		b.Fatal(err)
	}
	res := store.Batch{Cursor: ev.ID, Version: "v1", Matches: []store.Match{{EventID: ev.ID, Rule: "r"}}}
	for i := range n {
		res.Jobs = append(res.Jobs, store.NewJob{EventID: ev.ID, Rule: "r", Action: i, Kind: "http", Destination: "crm",
			Request: data, IdempotencyKey: strconv.Itoa(i)})
	}
	if err := s.Commit(ctx, res); err != nil {
		b.Fatal(err)
	}
}
