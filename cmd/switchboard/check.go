package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
)

func runCheck(_ context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "check", "RULES...",
		"Check rules files (or directories of *.yaml files) completely: YAML, names, conditions,\n"+
			"templates, destinations and environment variables. Every problem is printed on its own\n"+
			"line as file:line:col: message. Exit status 1 if there is any, 0 if none. Warnings (a\n"+
			"condition comparing type with a name Cooby does not send) print as file:line:col: warning:\n"+
			"message and fail the check only with --strict.")
	asJSON := fs.Bool("json", false, "print one JSON object: {\"ok\", \"errors\": [{file, line, column, message}], \"warnings\": [...], ...}")
	strict := fs.Bool("strict", false, "fail (exit status 1) on warnings too")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if len(paths) == 0 {
		fs.Usage()
		return 2
	}
	rs, err := loadRules(paths)
	warnings := []*diag.Error{}
	if rs != nil && rs.Warnings != nil {
		warnings = rs.Warnings
	}
	failed := err != nil || (*strict && len(warnings) > 0)
	if *asJSON {
		out := checkReport{OK: !failed, Errors: diag.Flatten(err), Warnings: warnings}
		if out.Errors == nil {
			out.Errors = []*diag.Error{}
		}
		if rs != nil {
			out.Version, out.Rules, out.Destinations, out.Tests = rs.Version, len(rs.Rules), len(rs.Destinations), len(rs.Tests)
		}
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else if err != nil {
		for _, e := range diag.Flatten(err) {
			fmt.Fprintln(s.out, e.Error())
		}
	} else {
		for _, w := range warnings {
			fmt.Fprintln(s.out, warningLine(w))
		}
		if failed {
			fmt.Fprintf(s.out, "%d warnings (--strict)\n", len(warnings))
			return 1
		}
		fmt.Fprintf(s.out, "ok: %d rules, %d destinations, %d tests (version %s)\n",
			len(rs.Rules), len(rs.Destinations), len(rs.Tests), rs.Version)
	}
	if failed {
		return 1
	}
	return 0
}

// warningLine prints a warning as file:line:col: warning: message.
func warningLine(w *diag.Error) string {
	c := *w
	c.Msg = "warning: " + c.Msg
	return c.Error()
}

type checkReport struct {
	OK           bool          `json:"ok"`
	Errors       []*diag.Error `json:"errors"`
	Warnings     []*diag.Error `json:"warnings"`
	Version      string        `json:"version,omitempty"`
	Rules        int           `json:"rules"`
	Destinations int           `json:"destinations"`
	Tests        int           `json:"tests"`
}

// loadRules is how every command loads rules: the built-in action kinds and
// the process environment for ${VAR}s.
func loadRules(paths []string) (*engine.RuleSet, error) {
	return engine.LoadFiles(engine.Options{Kinds: builtin.Kinds()}, paths...)
}

// loadOrReport loads rules for a command that needs them, printing every
// problem to stderr (file:line:col: message) when they do not load.
func loadOrReport(s *stdio, paths []string) (*engine.RuleSet, bool) {
	rs, err := loadRules(paths)
	if err != nil {
		for _, e := range diag.Flatten(err) {
			fmt.Fprintln(s.err, e.Error())
		}
		return nil, false
	}
	return rs, true
}
