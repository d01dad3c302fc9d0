package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consoleEvents appends n events, one a minute from start, in order (as
// ingest does): chat i%3, sent when i%4 == 3, an image when i%5 == 0,
// with a text naming i; and a body that is not JSON at i == 7.
func consoleEvents(t *testing.T, s *Store, start time.Time, n int) {
	t.Helper()
	for i := range n {
		dir, typ := "received", "chat"
		if i%4 == 3 {
			dir = "sent"
		}
		if i%5 == 0 {
			typ = "image"
		}
		body := fmt.Sprintf(`{"chat_id":"c%d","chat_title":"Chat %d","direction":%q,"message":{"type":%q,"text":"text 100%% number %d"}}`, i%3, i%3, dir, typ, i)
		if i == 7 {
			body = "not json"
		}
		_, err := s.Append(context.Background(), NewEvent{Body: []byte(body), ReceivedAt: start.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err)
	}
}

func TestListEvents_Filters(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	consoleEvents(t, s, start, 60)
	ids := func(f EventFilter) []int64 {
		t.Helper()
		p, err := s.ListEvents(context.Background(), f)
		require.NoError(t, err)
		var out []int64
		for _, e := range p.Events {
			out = append(out, e.ID)
		}
		return out
	}
	// Event id i+1 is the i-th event.
	want := func(keep func(i int) bool, max int) []int64 {
		var out []int64
		for i := 59; i >= 0 && len(out) < max; i-- {
			if keep(i) {
				out = append(out, int64(i+1))
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    EventFilter
		keep func(i int) bool
	}{
		{"all", EventFilter{Limit: 100}, func(int) bool { return true }},
		{"chat", EventFilter{ChatID: "c1", Limit: 100}, func(i int) bool { return i%3 == 1 && i != 7 }},
		{"direction", EventFilter{Direction: "sent", Limit: 100}, func(i int) bool { return i%4 == 3 && i != 7 }},
		{"type", EventFilter{Type: "image", Limit: 100}, func(i int) bool { return i%5 == 0 }},
		{"text", EventFilter{Text: "NUMBER 1", Limit: 100}, func(i int) bool { return fmt.Sprint(i)[0] == '1' && i != 7 }},
		{"text is not a pattern", EventFilter{Text: "100%", Limit: 100}, func(i int) bool { return i != 7 }},
		{"no such text", EventFilter{Text: "_", Limit: 100}, func(int) bool { return false }},
		{"since", EventFilter{Since: start.Add(50 * time.Minute), Limit: 100}, func(i int) bool { return i >= 50 }},
		{"until", EventFilter{Until: start.Add(10 * time.Minute), Limit: 100}, func(i int) bool { return i < 10 }},
		{"before", EventFilter{BeforeID: 31, Limit: 5}, func(i int) bool { return i < 30 }},
		{"combined", EventFilter{ChatID: "c0", Type: "image", Since: start.Add(20 * time.Minute), Limit: 100}, func(i int) bool {
			return i%3 == 0 && i%5 == 0 && i >= 20
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.f.Limit
			assert.Equal(t, want(tt.keep, limit), ids(tt.f))
		})
	}
	p, err := s.ListEvents(context.Background(), EventFilter{Limit: 10})
	require.NoError(t, err)
	assert.True(t, p.More)
	assert.Equal(t, "c2", p.Events[0].ChatID)
	assert.Equal(t, "Chat 2", p.Events[0].ChatTitle)
}

func TestReadSeries_CountsPerBucket(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	start := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	consoleEvents(t, s, start, 60) // one a minute for an hour
	got, err := s.ReadSeries(context.Background(), start.Add(-10*time.Minute), 10*time.Minute, 8, []string{"r"}, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 10, 10, 10, 10, 10, 10, 0}, got.Events)
	assert.Equal(t, []int64{0, 0, 0, 0, 0, 0, 0, 0}, got.Outcomes[StateDone])
	assert.Empty(t, got.Matches)

	got, err = s.ReadSeries(context.Background(), start.Add(25*time.Minute), 5*time.Minute, 3, nil, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, []int64{5, 5, 5}, got.Events)
}

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

func TestFirstJobAt(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	opt := quiet
	opt.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := openT(t, t.TempDir(), opt)
	at, err := s.FirstJobAt(t.Context(), now)
	require.NoError(t, err)
	assert.Equal(t, int64(1), at, "no job yet")
	ids := eventsT(t, s, 10)
	// Job i+1 is created at 09:00 + i minutes.
	for i, id := range ids {
		mu.Lock()
		now = time.Date(2026, 12, 1, 9, i, 0, 0, time.UTC)
		mu.Unlock()
		require.NoError(t, s.Commit(t.Context(), Batch{Cursor: id, Events: []int64{id}, Version: "v", Jobs: []NewJob{httpJob(id, "r", 0)}}))
	}
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 1, 9, 0, 30, 0, time.UTC), 2},
		{time.Date(2026, 12, 1, 9, 4, 0, 0, time.UTC), 5},
		{time.Date(2026, 12, 1, 9, 9, 0, 0, time.UTC), 10},
		{time.Date(2026, 12, 1, 9, 9, 1, 0, time.UTC), 11},
	} {
		got, err := s.FirstJobAt(t.Context(), tt.at)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, tt.at.Format(time.TimeOnly))
	}
}
