package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/switchboard-dev/switchboard"
)

// runInit writes a starter rules file and the sample payloads its tests
// use into a directory, so that `switchboard test` passes from the first
// minute.
func runInit(_ context.Context, s *stdio, args []string) int {
	fset := newFlags(s, "init", "[DIR]",
		"Write a starter rules file for a sales and support team (DIR/rules.yaml, commented, with\n"+
			"destinations, routing, a delayed unanswered-chat alert, a weekday digest and tests) and\n"+
			"the sample Cooby payloads its tests use (DIR/testdata/cooby/). DIR defaults to the current\n"+
			"directory. Existing files are left alone unless --force.")
	force := fset.Bool("force", false, "overwrite files that exist")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return flagExit(err)
	}
	if len(pos) > 1 {
		fset.Usage()
		return 2
	}
	dir := "."
	if len(pos) == 1 {
		dir = pos[0]
	}
	files := map[string]string{"rules.example.yaml": "rules.yaml"} // source -> written as
	err = fs.WalkDir(switchboard.Starter, "testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[p] = p
		}
		return err
	})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard init: %v\n", err)
		return 1
	}
	var exist []string
	for _, to := range files {
		if _, err := os.Stat(filepath.Join(dir, to)); err == nil {
			exist = append(exist, filepath.Join(dir, to))
		}
	}
	if len(exist) > 0 && !*force {
		slices.Sort(exist)
		fmt.Fprintf(s.err, "switchboard init: these files exist; nothing was written (use --force to overwrite them):\n  %s\n",
			strings.Join(exist, "\n  "))
		return 1
	}
	for from, to := range files {
		data, err := fs.ReadFile(switchboard.Starter, from)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(dir, to)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, to), data, 0o644)
		}
		if err != nil {
			fmt.Fprintf(s.err, "switchboard init: %v\n", errors.Unwrap(err))
			return 1
		}
	}
	rules := filepath.Join(dir, "rules.yaml")
	fmt.Fprintf(s.out, `wrote %s and %d sample payloads in %s
next:
  switchboard check %s                      # every problem with its file:line:col
  switchboard test %s                       # the tests: at its end
  switchboard dryrun -r %s %s   # what the rules would do, nothing sent
  switchboard serve --rules %s --data %s
`, rules, len(files)-1, filepath.Join(dir, "testdata", "cooby"), rules, rules, rules, filepath.Join(dir, "testdata", "cooby"),
		rules, filepath.Join(dir, "data"))
	return 0
}
