package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/switchboard-dev/switchboard/engine"
)

func runTest(_ context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "test", "[-r] RULES...",
		"Run the tests: cases of rules files through the same evaluation the service uses, and\n"+
			"print each as PASS or FAIL with what was expected and what happened. Exit status 1 if\n"+
			"any case fails or the rules do not load. Put it in your own CI.")
	rules := addRulesFlag(fs, "rules file or directory (repeatable); arguments are rules too")
	asJSON := fs.Bool("json", false, "print one JSON object per case")
	runPat := fs.String("run", "", "only run cases whose name matches this regular expression")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	paths := rules.with(pos)
	if len(paths) == 0 {
		fs.Usage()
		return 2
	}
	var filter *regexp.Regexp
	if *runPat != "" {
		if filter, err = regexp.Compile(*runPat); err != nil {
			fmt.Fprintf(s.err, "switchboard test: -run: %v\n", err)
			return 2
		}
	}
	rs, ok := loadOrReport(s, paths)
	if !ok {
		return 1
	}
	passed, failed := 0, 0
	enc := json.NewEncoder(s.out)
	for _, tc := range rs.Tests {
		if filter != nil && !filter.MatchString(tc.Name) {
			continue
		}
		res := rs.RunTest(tc)
		if res.Passed() {
			passed++
		} else {
			failed++
		}
		if *asJSON {
			_ = enc.Encode(testJSON{Name: tc.Name, File: tc.File, Line: tc.Line, Pass: res.Passed(),
				Expected: nonNil(tc.Expect), Got: nonNil(res.Got), Failures: nonNil(res.Failures)})
			continue
		}
		printResult(s, res)
	}
	if !*asJSON {
		if passed+failed == 0 {
			fmt.Fprintln(s.out, "no tests: add a tests: section to the rules file")
		}
		fmt.Fprintf(s.out, "%d passed, %d failed\n", passed, failed)
	}
	if failed > 0 {
		return 1
	}
	return 0
}

func printResult(s *stdio, res engine.TestResult) {
	tc := res.Case
	if res.Passed() {
		fmt.Fprintf(s.out, "PASS  %s\n", tc.Name)
		return
	}
	fmt.Fprintf(s.out, "FAIL  %s (%s:%d)\n", tc.Name, tc.File, tc.Line)
	for _, f := range res.Failures {
		fmt.Fprintf(s.out, "      %s\n", f)
	}
}

type testJSON struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Pass     bool     `json:"pass"`
	Expected []string `json:"expected"`
	Got      []string `json:"got"`
	Failures []string `json:"failures"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
