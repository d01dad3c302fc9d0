package app

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/actions/egress"
	"github.com/switchboard-dev/switchboard/diag"
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

// CheckOptions configure Check. The zero value checks with the process
// environment and runs the tests.
type CheckOptions struct {
	// LookupEnv resolves ${VAR} references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger, SendTimeout and EgressAllow configure the senders built
	// (the service's, for the rules it runs).
	Logger      *slog.Logger
	SendTimeout time.Duration
	EgressAllow []netip.Prefix
	// SkipTests does not run the rules' tests (`check --no-tests`).
	SkipTests bool
	// AllowFailingTests runs them but does not count their failures as
	// problems: they are in Checked.TestFailures only (`serve
	// --reload-require-tests=false`, and `diff`, which reports them).
	AllowFailingTests bool
}

// Checked is a rule set that passed Check, with what Check built and ran.
type Checked struct {
	Rules *engine.RuleSet
	// Tests are the results of the rules' tests (none with SkipTests);
	// TestFailures one positioned problem per failure.
	Tests        []engine.TestResult
	TestFailures []*diag.Error

	senders map[senderKey]actions.Sender
}

// Check is the one definition of valid rules, used by `switchboard check`,
// by `serve` at startup and on every reload, by `diff` and by the rules
// posted to POST /api/diff: it loads a snapshot of the rules files (YAML,
// names, conditions, templates, destinations, environment variables, the
// files they name, all read through the snapshot), builds a sender for
// every destination and one per kind for actions without a destination,
// and runs the rules' tests. It returns every problem, each with its
// file:line:col; so `check` passing means a reload takes the rules.
func Check(snap *reload.Snapshot, o CheckOptions) (*Checked, error) {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	rs, err := engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: o.LookupEnv, ReadFile: snap.ReadFile}, snap.Sources...)
	if err != nil {
		return nil, err
	}
	c := &Checked{Rules: rs, senders: map[senderKey]actions.Sender{}}
	opts := actions.SenderOptions{Logger: o.Logger, Timeout: o.SendTimeout, Egress: &egress.Guard{Allow: o.EgressAllow}}
	var errs diag.List
	for kind, k := range builtin.Kinds() {
		d, ok := k.(actions.Deliverer)
		if !ok {
			continue
		}
		// The sender of actions without a destination; kinds that always
		// need one (email) have none.
		if s, err := d.NewSender(nil, opts); err == nil {
			c.senders[senderKey{kind, ""}] = s
		}
	}
	for _, name := range slices.Sorted(maps.Keys(rs.Destinations)) { // problems in a stable order
		dest := rs.Destinations[name]
		d, ok := rs.Kind(dest.Kind).(actions.Deliverer)
		if !ok {
			continue
		}
		dopts := opts
		dopts.Egress = &egress.Guard{Allow: o.EgressAllow, Private: dest.AllowPrivate}
		s, err := d.NewSender(dest.Config, dopts)
		if err != nil {
			errs.Add(&diag.Error{File: dest.File, Line: dest.Line, Column: 1, Msg: fmt.Sprintf("destination %q: %s", name, rs.RedactError(err.Error()))})
			continue
		}
		c.senders[senderKey{dest.Kind, name}] = s
	}
	if !o.SkipTests {
		c.Tests = rs.RunTests()
		c.TestFailures = testFailures(rs, c.Tests)
		if !o.AllowFailingTests {
			errs.Add(c.TestFailures...)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// loadActive checks a snapshot of the rules files with Check, as the
// service is configured; nothing is swapped here.
func (a *App) loadActive(snap *reload.Snapshot) (*active, error) {
	c, err := Check(snap, a.checkOptions())
	if err != nil {
		return nil, err
	}
	for _, f := range c.TestFailures { // only with AllowFailingTests
		a.log.Warn("rules test fails; taken anyway (--reload-require-tests=false)", "event", "rules_test_failed", "version", c.Rules.Version, "failure", f.Error())
	}
	act := &active{rules: c.Rules, senders: c.senders, loaded: time.Now()}
	act.limiters = a.limitersFor(act, a.active.Load())
	return act, nil
}

// checkOptions are the options of every Check of the service.
func (a *App) checkOptions() CheckOptions {
	return CheckOptions{LookupEnv: a.cfg.LookupEnv, Logger: a.log, SendTimeout: a.cfg.SendTimeout,
		EgressAllow: a.cfg.EgressAllow, AllowFailingTests: a.cfg.AllowFailingTests}
}

// testFailures returns one positioned error per failure of the rules'
// tests, so that a set that breaks an agreed behaviour is refused like an
// invalid one.
func testFailures(rs *engine.RuleSet, results []engine.TestResult) []*diag.Error {
	var out []*diag.Error
	for _, res := range results {
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
