package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard-dev/switchboard/diag"
	"github.com/switchboard-dev/switchboard/internal/app"
)

func runCheck(_ context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "check", "[-r] RULES...",
		"Check rules files (or directories of *.yaml files) exactly as the service checks them at\n"+
			"startup and on every reload: YAML, names, conditions, templates, destinations (their\n"+
			"senders are built), environment variables, the files the rules name, and the rules'\n"+
			"tests, which must pass. So a check that passes means a reload takes the rules. Every\n"+
			"problem is printed on its own line as file:line:col: message. Exit status 1 if there is\n"+
			"any, 0 if none. Warnings (a condition comparing type with a name Cooby does not send)\n"+
			"print as file:line:col: warning: message and fail the check only with --strict.")
	rules := addRulesFlag(fs, "rules file or directory (repeatable); arguments are rules too")
	asJSON := fs.Bool("json", false, "print one JSON object: {\"ok\", \"errors\": [{file, line, column, message}], \"warnings\": [...], ...}")
	strict := fs.Bool("strict", false, "fail (exit status 1) on warnings too")
	noTests := fs.Bool("no-tests", false, "do not run the rules' tests (a reload runs them, unless serve --reload-require-tests=false)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	paths := rules.with(pos)
	if len(paths) == 0 {
		fs.Usage()
		return 2
	}
	checked, err := checkRules(paths, *noTests)
	warnings := []*diag.Error{}
	if checked != nil && checked.Rules.Warnings != nil {
		warnings = checked.Rules.Warnings
	}
	failed := err != nil || (*strict && len(warnings) > 0)
	if *asJSON {
		out := checkReport{OK: !failed, Errors: diag.Flatten(err), Warnings: warnings}
		if out.Errors == nil {
			out.Errors = []*diag.Error{}
		}
		if checked != nil {
			rs := checked.Rules
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
		rs := checked.Rules
		tests := fmt.Sprintf("%d tests passed", len(checked.Tests))
		if *noTests {
			tests = fmt.Sprintf("%d tests not run (--no-tests)", len(rs.Tests))
		}
		fmt.Fprintf(s.out, "ok: %d rules, %d destinations, %s (version %s)\n",
			len(rs.Rules), len(rs.Destinations), tests, rs.Version)
	}
	if failed {
		return 1
	}
	return 0
}

// checkRules reads a snapshot of the rules and validates it with the
// service's one definition of valid rules (app.Check), in the process
// environment.
func checkRules(paths []string, noTests bool) (*app.Checked, error) {
	snap, err := readRules(paths)
	if err != nil {
		return nil, err
	}
	return app.Check(snap, app.CheckOptions{SkipTests: noTests, Logger: discardLogger()})
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
