package app

import (
	"context"
	"time"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/switchboard-dev/switchboard/internal/reload"
)

// ReloadStatus describes the running rules and the last (re)load; GET
// /status and POST /-/reload answer with it.
type ReloadStatus struct {
	// OK reports whether the last (re)load succeeded; if not, Errors holds
	// every problem as file:line:col: message and the rules described by
	// Version, Files... are still the running ones.
	OK bool `json:"ok"`
	// At is the time of the last (re)load, Cause what triggered it
	// (startup, file change, checksum poll, SIGHUP, POST /-/reload) and
	// Duration how long it took.
	At       time.Time `json:"at"`
	Cause    string    `json:"cause,omitempty"`
	Duration Duration  `json:"duration"`
	Errors   []string  `json:"errors,omitempty"`
	// Version (a content hash), Files, Rules, Destinations and Tests
	// describe the running rules; LastGood is when they were loaded.
	Version string   `json:"version"`
	Files   []string `json:"files"`
	// Named are the files the running rules name (a tests: file, test
	// payloads, list files, key files): read with them, part of their
	// checksum, watched like them.
	Named        []string  `json:"named_files,omitempty"`
	Rules        int       `json:"rules"`
	Destinations int       `json:"destinations"`
	Tests        int       `json:"tests"`
	LastGood     time.Time `json:"last_good"`
	// Reloads and Failures count the loads since the process started
	// (startup included).
	Reloads  int64 `json:"reloads"`
	Failures int64 `json:"failures"`
}

// Duration is a time.Duration that reads as "12.3ms" in JSON.
type Duration time.Duration

// MarshalText formats the duration like time.Duration.String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses what MarshalText wrote.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// Reload reloads the rules now, even if the files did not change (the
// environment they read may have), and returns the outcome; cause names
// the trigger in logs and /status. Only if everything loads and validates
// (and the rules' tests pass) is the running set replaced; otherwise it
// stays and the error lists every problem with its position. While Run is
// going the reload runs on the reloader's goroutine, serialised with those
// the file watcher starts.
func (a *App) Reload(ctx context.Context, cause string) (ReloadStatus, error) {
	err := a.reloader.Trigger(ctx, cause)
	st := a.Status()
	if err != nil {
		st.OK = false
		st.Errors = errorLines(err)
	}
	return st, err
}

// Status returns the state of the running rules and of the last load.
func (a *App) Status() ReloadStatus {
	if s := a.status.Load(); s != nil {
		return *s
	}
	return ReloadStatus{}
}

// reloadNow is the reload.Func: read, load, validate, swap if all is well,
// and record the outcome. It returns the snapshot it read and loaded.
func (a *App) reloadNow(_ context.Context, cause string) (*reload.Snapshot, error) {
	start := time.Now()
	snap, err := reload.Read(a.cfg.Rules...)
	var act *active
	if err == nil {
		act, err = a.loadActive(snap)
	}
	var named []string
	if snap != nil {
		named = snap.Named()
	}
	a.record(cause, time.Since(start), act, named, err)
	return snap, err
}

// record publishes a load's outcome: the swap, /status, metrics and logs.
func (a *App) record(cause string, took time.Duration, act *active, named []string, err error) {
	now := time.Now().UTC()
	st := a.Status()
	st.At, st.Cause, st.Duration = now, cause, Duration(took)
	a.metrics.reloadAttempt.Set(float64(now.UnixMilli()) / 1000)
	a.metrics.reloadDuration.Observe(took.Seconds())
	if err != nil {
		st.OK = false
		st.Errors = errorLines(err)
		st.Failures++
		a.status.Store(&st)
		a.metrics.reloadOK.Set(0)
		a.metrics.reloadErrors.Set(float64(len(st.Errors)))
		a.metrics.reloads.WithLabelValues("failure").Inc()
		msg := "rules reload failed; the running rules stay"
		if a.active.Load() == nil {
			msg = "rules do not load"
		}
		for _, e := range st.Errors {
			a.log.Error(msg, "cause", cause, "err", e)
		}
		return
	}
	prev := a.active.Swap(act)
	rs := act.rules
	st = ReloadStatus{
		OK: true, At: now, Cause: cause, Duration: Duration(took), Version: rs.Version, Files: rs.Files, Named: named,
		Rules: len(rs.Rules), Destinations: len(rs.Destinations), Tests: len(rs.Tests), LastGood: now,
		Reloads: st.Reloads + 1, Failures: st.Failures,
	}
	a.status.Store(&st)
	a.metrics.reloadOK.Set(1)
	a.metrics.reloadErrors.Set(0)
	a.metrics.reloadTime.Set(float64(now.UnixMilli()) / 1000)
	a.metrics.reloads.WithLabelValues("success").Inc()
	a.metrics.rulesLoaded.Set(float64(len(rs.Rules)))
	log := a.log.With("cause", cause, "version", rs.Version, "rules", len(rs.Rules), "tests", len(rs.Tests), "files", rs.Files, "took", took)
	if prev != nil {
		if prev.rules.Version != rs.Version {
			a.metrics.rulesInfo.DeleteLabelValues(prev.rules.Version)
		}
		log = log.With("previous", prev.rules.Version)
	}
	a.metrics.rulesInfo.WithLabelValues(rs.Version).Set(1)
	log.Info("rules loaded")
	for _, w := range rs.Warnings {
		a.log.Warn("rules warning", "event", "rules_warning", "version", rs.Version, "warning", w.Error())
	}
}

// newReloader is the reloader of the running App: the rules' directories
// watched, the checksum poll, and explicit reloads.
func (a *App) newReloader(current *reload.Snapshot) *reload.Reloader {
	return reload.New(reload.Options{
		Paths: a.cfg.Rules, Reload: a.reloadNow, Current: current,
		Debounce: a.cfg.ReloadDebounce, Poll: a.cfg.ReloadPoll, NoWatch: a.cfg.NoWatch, Logger: a.log,
	})
}

func errorLines(err error) []string {
	var out []string
	for _, e := range diag.Flatten(err) {
		out = append(out, e.Error())
	}
	return out
}
