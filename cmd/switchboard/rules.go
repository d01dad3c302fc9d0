package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/diag"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/reload"
)

// rulesFlag is how every command that reads rules is told which: -r FILE
// or --rules FILE (repeatable; a directory stands for its *.yaml and *.yml
// files), and, for commands whose arguments are nothing else, the
// arguments too (`check rules.yaml`, `check -r rules.yaml`).
type rulesFlag struct{ paths stringList }

// addRulesFlag registers -r and --rules on fs.
func addRulesFlag(fs *flag.FlagSet, usage string) *rulesFlag {
	r := &rulesFlag{}
	fs.Var(&r.paths, "r", "same as --rules")
	fs.Var(&r.paths, "rules", usage)
	return r
}

// with returns the rules given with the flag followed by args.
func (r *rulesFlag) with(args []string) []string {
	return append(append([]string(nil), r.paths...), args...)
}

// setArgs adds rules given as arguments to the flag's, as if each had been
// given with --rules, so that an environment default (SWITCHBOARD_RULES)
// is not added to them.
func (r *rulesFlag) setArgs(fs *flag.FlagSet, args []string) {
	for _, a := range args {
		_ = fs.Set("rules", a)
	}
}

// readRules reads a snapshot of the rules files, the one way every
// command and the service read them (reload.Read: one path expansion;
// the files the rules name are read through the snapshot).
func readRules(paths []string) (*reload.Snapshot, error) {
	return reload.Read(paths...)
}

// loadRules is how every command that only needs the rules loads them: a
// snapshot, the built-in action kinds and the process environment for
// ${VAR}s. `check` validates more (app.Check).
func loadRules(paths []string) (*engine.RuleSet, error) {
	snap, err := readRules(paths)
	if err != nil {
		return nil, err
	}
	return engine.Load(engine.Options{Kinds: builtin.Kinds(), ReadFile: snap.ReadFile}, snap.Sources...)
}

// loadOrReport loads rules for a command that needs them, printing every
// problem to stderr (file:line:col: message) when they do not load.
func loadOrReport(s *stdio, paths []string) (*engine.RuleSet, bool) {
	rs, err := loadRules(paths)
	if err != nil {
		printProblems(s, err)
		return nil, false
	}
	return rs, true
}

// printProblems prints every problem of err on its own line to stderr.
func printProblems(s *stdio, err error) {
	for _, e := range diag.Flatten(err) {
		fmt.Fprintln(s.err, e.Error())
	}
}

// discardLogger is the logger of senders built only to be checked.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
