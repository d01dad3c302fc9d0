package app

import (
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/egress"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/reload"
)

// active is one loaded rule set with the senders of its destinations. It
// is immutable and swapped whole, so each event is decided by one version.
type active struct {
	rules   *engine.RuleSet
	senders map[senderKey]actions.Sender
	// limiters are the destinations' rate limiters (see limitersFor).
	limiters limiters
	loaded   time.Time
}

type senderKey struct{ kind, dest string }

// engineOptions are the options every rules load of the service uses.
func (a *App) engineOptions() engine.Options {
	return engine.Options{Kinds: builtin.Kinds(), LookupEnv: a.cfg.LookupEnv}
}

// loadActive checks a snapshot of the rules files exactly as `switchboard
// check` does (engine.Load: YAML, names, expressions, templates,
// destinations, environment variables), builds a sender for every
// destination and one per kind for actions without a destination, and
// (unless Config.AllowFailingTests) runs the rules' tests. It returns every
// problem, each with its file:line:col; nothing is swapped here.
func (a *App) loadActive(snap *reload.Snapshot) (*active, error) {
	rs, err := engine.Load(a.engineOptions(), snap.Sources...)
	if err != nil {
		return nil, err
	}
	act := &active{rules: rs, senders: map[senderKey]actions.Sender{}, loaded: time.Now()}
	opts := actions.SenderOptions{Logger: a.log, Timeout: a.cfg.SendTimeout, Egress: &egress.Guard{Allow: a.cfg.EgressAllow}}
	var errs diag.List
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
		dopts := opts
		dopts.Egress = &egress.Guard{Allow: a.cfg.EgressAllow, Private: dest.AllowPrivate}
		s, err := d.NewSender(dest.Config, dopts)
		if err != nil {
			errs.Add(&diag.Error{File: dest.File, Line: dest.Line, Column: 1, Msg: fmt.Sprintf("destination %q: %s", name, rs.RedactError(err.Error()))})
			continue
		}
		act.senders[senderKey{dest.Kind, name}] = s
	}
	if !a.cfg.AllowFailingTests {
		errs.Add(testFailures(rs)...)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	act.limiters = a.limitersFor(act, a.active.Load())
	return act, nil
}

// testFailures runs the rules' tests: and returns one positioned error per
// failure, so that a set that breaks an agreed behaviour is refused like an
// invalid one.
func testFailures(rs *engine.RuleSet) []*diag.Error {
	var out []*diag.Error
	for _, res := range rs.RunTests() {
		for _, f := range res.Failures {
			out = append(out, &diag.Error{File: res.Case.File, Line: res.Case.Line, Column: 1,
				Msg: fmt.Sprintf("test %q fails: %s", res.Case.Name, rs.Redact(f))})
		}
	}
	return out
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
