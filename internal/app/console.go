package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/console"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/notifytest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// newConsole builds the web console over the functions the admin API
// calls (consoleBackend), for the admin listener. Both stores (SQLite and
// --store postgres://) implement its reads (console.Store); a store that
// does not is refused at start with a clear error.
func (a *App) newConsole() (http.Handler, error) {
	st, ok := a.store.(console.Store)
	if !ok {
		return nil, errors.New("starting the web console: this store does not implement the console's reads (internal/console.Store)")
	}
	return console.New(console.Options{
		Backend: consoleBackend{a},
		Store:   st,
		Token:   a.adminTok,
		Hosts:   a.consoleHosts(),
		Logger:  a.log,
	})
}

// consoleHosts are the host names the console answers to besides IP
// addresses and localhost: those of the listen addresses and
// Config.ConsoleHosts.
func (a *App) consoleHosts() []string {
	hosts := append([]string(nil), a.cfg.ConsoleHosts...)
	for _, addr := range []string{a.cfg.Addr, a.cfg.AdminAddr} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && net.ParseIP(h) == nil {
			hosts = append(hosts, strings.ToLower(h))
		}
	}
	return hosts
}

// consoleBackend is the App as the console sees it.
type consoleBackend struct{ a *App }

func (b consoleBackend) Rules() *engine.RuleSet { return b.a.Rules() }

func (b consoleBackend) RulesStatus() console.RulesStatus { return rulesStatus(b.a.Status()) }

func rulesStatus(s ReloadStatus) console.RulesStatus {
	return console.RulesStatus{OK: s.OK, At: s.At, Cause: s.Cause, Duration: time.Duration(s.Duration), Errors: s.Errors,
		Version: s.Version, Files: s.Files, Rules: s.Rules, Destinations: s.Destinations, Tests: s.Tests,
		LastGood: s.LastGood, Reloads: s.Reloads, Failures: s.Failures}
}

func (b consoleBackend) Reload(ctx context.Context) (console.RulesStatus, error) {
	st, err := b.a.Reload(ctx, "console")
	return rulesStatus(st), err
}

func (b consoleBackend) Stats(ctx context.Context) (store.Stats, error) { return b.a.store.Stats(ctx) }

func (b consoleBackend) Health() []delivery.Health { return b.a.deliverer.Health() }

func (b consoleBackend) Deliveries(ctx context.Context, f store.Filter) ([]store.Delivery, error) {
	return b.a.Deliveries(ctx, f)
}

func (b consoleBackend) Replay(ctx context.Context, id int64) error { return b.a.Replay(ctx, id) }

func (b consoleBackend) ReplayDead(ctx context.Context, f store.Filter) (int, error) {
	return b.a.ReplayDead(ctx, f)
}

func diffFiles(files []console.RulesFile) []DiffFile {
	out := make([]DiffFile, len(files))
	for i, f := range files {
		out[i] = DiffFile{Name: f.Name, Content: f.Content}
	}
	return out
}

func (b consoleBackend) DryRun(raw []byte, files []console.RulesFile, opts dryrun.Options) (*dryrun.Report, error) {
	rep, err := b.a.DryRun(raw, diffFiles(files), opts)
	var le *loadError
	if errors.As(err, &le) {
		return nil, fmt.Errorf("the edited rules do not load:\n%s", strings.Join(errorLines(le.err), "\n"))
	}
	return rep, err
}

func (b consoleBackend) Diff(ctx context.Context, files []console.RulesFile, since time.Duration) (*console.DiffResult, error) {
	rep, err := b.a.Diff(ctx, DiffRequest{Files: diffFiles(files)}, since, 100, 100000)
	var le *loadError
	if errors.As(err, &le) {
		return &console.DiffResult{LoadErrors: errorLines(le.err)}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &console.DiffResult{Running: rep.Running, New: rep.New, Since: rep.Since, Events: rep.Events, Changed: rep.Changed,
		Truncated: rep.Truncated, TestFailures: rep.TestFailures}
	for _, d := range rep.Diffs {
		ed := console.EventDiff{EventID: d.EventID, Summary: d.Summary}
		for _, set := range []struct {
			sign string
			list []ActionDiff
		}{{"+", d.Added}, {"-", d.Removed}, {"~", d.Changed}} {
			for _, ad := range set.list {
				line := fmt.Sprintf("%s %s %s (%s", set.sign, ad.Rule, engine.ActionLabel(ad.Action-1, ad.Name), ad.Kind)
				if ad.Destination != "" {
					line += " → " + ad.Destination
				}
				line += ")"
				if ad.Old != nil {
					line += "\n    was: " + string(ad.Old)
				}
				if ad.New != nil {
					line += "\n    now: " + string(ad.New)
				}
				ed.Lines = append(ed.Lines, line)
			}
		}
		out.Diffs = append(out.Diffs, ed)
	}
	return out, nil
}

// SendTest sends the notify-test message through a destination of the
// running rules with the service's own sender (its egress guard
// included), as `switchboard notify-test` does from the command line.
func (b consoleBackend) SendTest(ctx context.Context, name string) (console.SendTestResult, error) {
	rs := b.a.Rules()
	t, err := notifytest.Prepare(rs, name, "", "", time.Now())
	if err != nil {
		return console.SendTestResult{}, err
	}
	sender, err := b.a.sender(t.Request.Kind, name)
	if err != nil {
		return console.SendTestResult{}, errors.New(rs.Redact(err.Error()))
	}
	ctx, cancel := context.WithTimeout(ctx, b.a.cfg.SendTimeout)
	defer cancel()
	ok, msg := notifytest.Outcome(rs, name, sender.Send(ctx, t.Request))
	return console.SendTestResult{Preview: t.Preview, OK: ok, Message: msg}, nil
}
