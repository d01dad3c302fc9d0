package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/internal/app"
)

// manyRules is a rules file of n rules of four typical shapes (as in
// engine's benchmarks), each with a log action and, if withHTTP, an http
// action to a destination: what a large team's file looks like.
func manyRules(n int, withHTTP bool) string {
	types := []string{"chat", "image", "document", "pdf", "audio", "video", "location", "reaction"}
	var b strings.Builder
	b.WriteString("destinations:\n  crm: {kind: http, url: \"https://crm.example.com/api\"}\nrules:\n")
	for i := range n {
		t, d := types[i%len(types)], []string{"received", "sent"}[(i/len(types))%2]
		var cond string
		switch i % 4 {
		case 0:
			cond = fmt.Sprintf(`type == %q && direction == %q`, t, d)
		case 1:
			cond = fmt.Sprintf(`type == %q && direction == %q && chat_id == "%d@c.us"`, t, d, 447000000000+i)
		case 2:
			cond = fmt.Sprintf(`direction == %q && icontains(text, "word%d")`, d, i)
		default:
			cond = fmt.Sprintf(`type in [%q, "pdf", "csv"] && (chat_type == "group" || user_email endsWith "@x%d.com")`, t, i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    when: '%s'\n    actions:\n", i, cond)
		fmt.Fprintf(&b, "      - log: {message: \"r%d {{ sender.wa_name }}\"}\n", i)
		if withHTTP {
			fmt.Fprintf(&b, "      - http: {destination: crm, url: \"/e/{{ message.id }}\", body: {id: \"{{ message.id }}\", text: \"{{ text }}\"}}\n")
		}
	}
	return b.String()
}

// BenchmarkReload1000Rules measures one explicit reload of a 1,000-rule
// file on a running service: read, compile, validate, build senders, swap.
// Sub-benchmarks: one log action per rule, or a log and an http action.
func BenchmarkReload1000Rules(b *testing.B) {
	for _, withHTTP := range []bool{false, true} {
		b.Run(map[bool]string{false: "log", true: "log+http"}[withHTTP], func(b *testing.B) {
			svc := start(b, manyRules(1000, withHTTP), func(cfg *app.Config) { cfg.NoWatch, cfg.ReloadPoll = true, -1 })
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.app.Reload(ctx, "benchmark"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIngestWhileReloading measures webhook answers (sequential
// posts, each stored durably) with the rules idle and while a 1,000-rule
// file is reloaded without pause, and reports their p50 and p99.
func BenchmarkIngestWhileReloading(b *testing.B) {
	for _, reloading := range []bool{false, true} {
		name := map[bool]string{false: "idle", true: "reloading"}[reloading]
		b.Run(name, func(b *testing.B) {
			svc := start(b, manyRules(1000, true), func(cfg *app.Config) { cfg.NoWatch, cfg.ReloadPoll = true, -1 })
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var reloads atomic.Int64
			if reloading {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := svc.app.Reload(context.Background(), "benchmark"); err != nil {
							b.Error(err)
							return
						}
						reloads.Add(1)
					}
				})
			}
			var lat []time.Duration
			i := 0
			start := time.Now()
			for b.Loop() {
				i++
				body := fmt.Sprintf(`{"direction":"received","message":{"id":"B%d","type":"chat","text":"hi"}}`, i)
				t0 := time.Now()
				resp, err := http.Post(svc.hook, "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("status %d", resp.StatusCode)
				}
				lat = append(lat, time.Since(t0))
			}
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			if reloading {
				b.ReportMetric(float64(reloads.Load())/elapsed.Seconds(), "reloads/s")
			}
		})
	}
}
