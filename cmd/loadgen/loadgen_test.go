package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitter checks that every appended record is written once,
// in full, and that concurrent appends share fsyncs.
func TestGroupCommitter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := newGroupCommitter(f)
	go g.run()
	const writers, each = 32, 20
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := g.append([]byte(`{"message":{"id":"x"}}`)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n != writers*each {
		t.Fatalf("%d records in the file, want %d", n, writers*each)
	}
	if ev, fs := g.events.Load(), g.fsyncs.Load(); ev != writers*each || fs < 1 || fs > ev {
		t.Fatalf("events %d, fsyncs %d", ev, fs)
	}
}

// TestProcCPU: the CPU time read from /proc grows while this process
// spins. It spins until it does (up to a generous bound), not for a fixed
// wall time: on a shared machine 200 ms of wall time may be 20 ms of CPU.
func TestProcCPU(t *testing.T) {
	before, err := procCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	var after time.Duration
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 1_000_000; i++ {
			spinSink += i
		}
		if after, err = procCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
		if after-before >= 50*time.Millisecond {
			return
		}
	}
	t.Fatalf("CPU %s then %s after spinning for 30 s", before, after)
}

var spinSink int

func TestParseIntsAndLayouts(t *testing.T) {
	if got, err := parseInts("concurrency", "16, 64,256"); err != nil || len(got) != 3 || got[2] != 256 {
		t.Fatalf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "16,-1"} {
		if _, err := parseInts("concurrency", bad); err == nil {
			t.Errorf("parseInts(%q) did not fail", bad)
		}
	}
	ls, err := makeLayouts([]int{1, 2}, "0", "1", true)
	if err != nil || ls[0].ServerCPUs != "0" || ls[0].LoadCPUs != "1" || ls[1].ServerCPUs != "" {
		t.Fatalf("makeLayouts = %+v, %v", ls, err)
	}
	if ls, _ := makeLayouts([]int{1}, "0", "1", false); !ls[0].Unpinned || ls[0].ServerCPUs != "" {
		t.Fatalf("without taskset: %+v", ls)
	}
	if _, err := makeLayouts([]int{3}, "0", "1", true); err == nil {
		t.Fatal("layout 3 accepted")
	}
}
