package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Children die with loadgen (Pdeathsig), but their temporary directories
// would stay behind when loadgen is interrupted: the cleanup registry
// kills the children still running and removes those directories on
// SIGINT, SIGTERM, SIGHUP or SIGPIPE.
var cleanup struct {
	sync.Mutex
	procs map[*os.Process]bool
	dirs  map[string]bool
}

// track registers a child and its directory (either may be nil or "").
func track(p *os.Process, dir string) {
	cleanup.Lock()
	defer cleanup.Unlock()
	if cleanup.procs == nil {
		cleanup.procs, cleanup.dirs = map[*os.Process]bool{}, map[string]bool{}
	}
	if p != nil {
		cleanup.procs[p] = true
	}
	if dir != "" {
		cleanup.dirs[dir] = true
	}
}

// untrack forgets a child and its directory once they are stopped and
// removed.
func untrack(p *os.Process, dir string) {
	cleanup.Lock()
	defer cleanup.Unlock()
	delete(cleanup.procs, p)
	delete(cleanup.dirs, dir)
}

// cleanUpOnSignal installs the handler: on a signal it stops everything
// tracked (stopAll) and exits with status 2.
func cleanUpOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		s := <-ch
		stopAll()
		fmt.Fprintln(os.Stderr, "loadgen: interrupted by", s)
		os.Exit(2)
	}()
}

// stopAll stops the tracked children (SIGTERM, so that a layout child
// cleans up too, then SIGKILL after 5 s) and removes the tracked
// directories. It runs before loadgen exits early (signal or fatal error),
// when deferred cleanups do not.
func stopAll() {
	cleanup.Lock()
	defer cleanup.Unlock()
	procs := make([]*os.Process, 0, len(cleanup.procs))
	for p := range cleanup.procs {
		procs = append(procs, p)
		_ = p.Signal(syscall.SIGTERM)
	}
	done := make(chan struct{})
	go func() {
		for _, p := range procs {
			// Reaps the child, or fails at once if its own waiter did.
			_, _ = p.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		for _, p := range procs {
			_ = p.Kill()
		}
	}
	for d := range cleanup.dirs {
		_ = os.RemoveAll(d)
	}
}
