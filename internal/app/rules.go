package app

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// active is one loaded rule set with the senders of its destinations. It
// is immutable and swapped whole, so each event is decided by one version.
type active struct {
	rules   *engine.RuleSet
	senders map[senderKey]actions.Sender
	loaded  time.Time
}

type senderKey struct{ kind, dest string }

// ReloadStatus describes the last (re)load of the rules.
type ReloadStatus struct {
	OK       bool      `json:"ok"`
	At       time.Time `json:"at"`
	Version  string    `json:"version"`
	Files    []string  `json:"files"`
	Rules    int       `json:"rules"`
	Errors   []string  `json:"errors,omitempty"`
	LastGood time.Time `json:"last_good"`
}

// loadActive loads the rules and builds a sender for every destination and
// one per kind for actions without a destination. Nothing is swapped if
// any step fails.
func (a *App) loadActive() (*active, error) {
	rs, err := engine.LoadFiles(engine.Options{Kinds: builtin.Kinds(), LookupEnv: a.cfg.LookupEnv}, a.cfg.Rules...)
	if err != nil {
		return nil, err
	}
	act := &active{rules: rs, senders: map[senderKey]actions.Sender{}, loaded: time.Now()}
	opts := actions.SenderOptions{Logger: a.log, Timeout: a.cfg.SendTimeout}
	var errs yamlx.List
	for kind, k := range builtin.Kinds() {
		d, ok := k.(actions.Deliverer)
		if !ok {
			continue
		}
		// The sender of actions without a destination; kinds that always
		// need one (email) have none.
		if s, err := d.NewSender(nil, opts); err == nil {
			act.senders[senderKey{kind, ""}] = s
		}
	}
	for name, dest := range rs.Destinations {
		d, ok := rs.Kind(dest.Kind).(actions.Deliverer)
		if !ok {
			continue
		}
		s, err := d.NewSender(dest.Config, opts)
		if err != nil {
			errs.Add(&yamlx.Error{File: dest.File, Line: dest.Line, Column: 1, Msg: fmt.Sprintf("destination %q: %s", name, rs.Redact(err.Error()))})
			continue
		}
		act.senders[senderKey{dest.Kind, name}] = s
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return act, nil
}

// Reload loads the rules again and, only if everything loads, replaces the
// running set. On failure the running set stays and the errors are
// returned (and shown by /status and the metrics).
func (a *App) Reload() (ReloadStatus, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	act, err := a.loadActive()
	now := time.Now().UTC()
	st := a.Status()
	st.At = now
	if err != nil {
		st.OK = false
		st.Errors = nil
		for _, e := range yamlx.Flatten(err) {
			st.Errors = append(st.Errors, e.Error())
		}
		a.status.Store(&st)
		a.metrics.reloadOK.Set(0)
		for _, e := range st.Errors {
			a.log.Error("rules reload failed; the running rules stay", "err", e)
		}
		return st, err
	}
	prev := a.active.Swap(act)
	st = ReloadStatus{OK: true, At: now, LastGood: now, Version: act.rules.Version, Files: act.rules.Files, Rules: len(act.rules.Rules)}
	a.status.Store(&st)
	a.metrics.reloadOK.Set(1)
	a.metrics.reloadTime.Set(float64(now.Unix()))
	if prev != nil {
		a.metrics.rulesInfo.DeleteLabelValues(prev.rules.Version)
	}
	a.metrics.rulesInfo.WithLabelValues(act.rules.Version).Set(1)
	a.log.Info("rules loaded", "version", act.rules.Version, "rules", len(act.rules.Rules), "files", act.rules.Files)
	return st, nil
}

// Status returns the state of the last rules load.
func (a *App) Status() ReloadStatus {
	if s := a.status.Load(); s != nil {
		return *s
	}
	return ReloadStatus{}
}

// Rules returns the running rule set.
func (a *App) Rules() *engine.RuleSet { return a.active.Load().rules }

// sender resolves the sender of a queued job from the running rules. A job
// whose destination no longer exists fails permanently with that reason.
func (a *App) sender(kind, dest string) (actions.Sender, error) {
	act := a.active.Load()
	if s, ok := act.senders[senderKey{kind, dest}]; ok {
		return s, nil
	}
	if dest == "" {
		return nil, actions.Permanent(fmt.Errorf("no sender for action kind %q", kind))
	}
	return nil, actions.Permanent(fmt.Errorf("destination %q (%s) is not in the running rules (version %s)", dest, kind, act.rules.Version))
}

var errNoRules = errors.New("no rules loaded")

// reloadGuard serialises reloads.
type reloadGuard = sync.Mutex
