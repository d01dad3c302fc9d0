package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
)

// appenders is the number of concurrent appenders per GOMAXPROCS in the
// parallel benchmarks, standing in for concurrent webhook requests.
const appenders = 32

var body1K = bytes.Repeat([]byte("x"), 1024)

// BenchmarkAppendParallel measures durable Appends of 1 KiB bodies (each with
// a dedupe key) from many goroutines, through group commit.
func BenchmarkAppendParallel(b *testing.B) { benchAppendParallel(b, nil) }

// benchAppendParallel runs durable Appends of 1 KiB bodies from many
// goroutines, each doing work (if set) before every Append, and reports
// events/s and events per fsynced commit.
func benchAppendParallel(b *testing.B, work func()) {
	s := openT(b, b.TempDir(), quiet)
	var n atomic.Int64
	durable := s.durable.Load()
	b.SetBytes(int64(len(body1K)))
	b.SetParallelism(appenders)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if work != nil {
				work()
			}
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

// BenchmarkAppendSerial is one Append at a time: one commit (fsync) each.
func BenchmarkAppendSerial(b *testing.B) {
	s := openT(b, b.TempDir(), quiet)
	b.SetBytes(int64(len(body1K)))
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Append(context.Background(), NewEvent{Body: body1K, DedupeKey: strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// fileLog is the baseline: the same group commit over a bare os.File, one
// write+fsync per batch, no SQLite.
type fileLog struct {
	f     *os.File
	reqs  chan fileReq
	done  chan struct{}
	syncs atomic.Int64
}

type fileReq struct {
	body []byte
	done chan error
}

func openFileLog(b *testing.B, maxBatch int) *fileLog {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	l := &fileLog{f: f, reqs: make(chan fileReq, 4*maxBatch), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		var buf []byte
		batch := make([]fileReq, 0, maxBatch)
		for first := range l.reqs {
			batch = append(batch[:0], first)
		collect:
			for len(batch) < maxBatch {
				select {
				case r, ok := <-l.reqs:
					if !ok {
						break collect
					}
					batch = append(batch, r)
				default:
					break collect
				}
			}
			buf = buf[:0]
			for _, r := range batch {
				buf = append(buf, r.body...)
			}
			_, err := l.f.Write(buf)
			if err == nil {
				err = l.f.Sync()
			}
			l.syncs.Add(1)
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	b.Cleanup(func() {
		close(l.reqs)
		<-l.done
		_ = l.f.Close()
	})
	return l
}

func (l *fileLog) append(body []byte) error {
	done := make(chan error, 1)
	l.reqs <- fileReq{body: body, done: done}
	return <-done
}

// BenchmarkFsyncGroupCommitParallel is the baseline for
// BenchmarkAppendParallel: bare os.File write+fsync group commit, up to 64
// bodies per fsync, same concurrency.
func BenchmarkFsyncGroupCommitParallel(b *testing.B) {
	l := openFileLog(b, 64)
	b.SetBytes(int64(len(body1K)))
	b.SetParallelism(appenders)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.append(body1K); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/float64(max(1, l.syncs.Load())), "events/commit")
}

// BenchmarkFsyncSerial is the baseline for BenchmarkAppendSerial: one
// write+fsync of 1 KiB at a time.
func BenchmarkFsyncSerial(b *testing.B) {
	l := openFileLog(b, 1)
	b.SetBytes(int64(len(body1K)))
	for b.Loop() {
		if err := l.append(body1K); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
