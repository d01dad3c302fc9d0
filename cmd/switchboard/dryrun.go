package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/switchboard-dev/switchboard/internal/dryrun"
)

func runDryrun(_ context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "dryrun", "-r RULES PAYLOAD...",
		"Evaluate sample payloads (JSON files, directories of *.json files, or - for standard\n"+
			"input) exactly as the service would, and print for each the matched rules in order and\n"+
			"every action as it would be sent, secrets shown as ***. Nothing is sent. A payload that\n"+
			"cannot be decoded is reported and the run goes on (exit status 1 at the end).")
	rulesOpt := addRulesFlag(fs, "rules file or directory (repeatable)")
	asJSON := fs.Bool("json", false, "print one JSON object per payload: {\"payload\", \"matched\": [{\"rule\", \"actions\"}], ...}")
	explain := fs.Bool("explain", false, "for rules that did not match, say which part of the condition was false")
	at := fs.String("at", "", "evaluate as if now were this RFC 3339 time (default: the current time)")
	payloads, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	rules := rulesOpt.paths
	if len(rules) == 0 || len(payloads) == 0 {
		fs.Usage()
		return 2
	}
	opts := dryrun.Options{Explain: *explain}
	if *at != "" {
		if opts.Now, err = time.Parse(time.RFC3339, *at); err != nil {
			fmt.Fprintf(s.err, "switchboard dryrun: --at: expected a time such as 2026-01-02T09:00:00Z, got %q\n", *at)
			return 2
		}
	}
	rs, ok := loadOrReport(s, rules)
	if !ok {
		return 1
	}
	code := 0
	var session dryrun.Session // conversation state across the payloads
	for _, p := range payloads {
		inputs, err := expandPayloads(p, s.in)
		if err != nil {
			fmt.Fprintf(s.err, "switchboard dryrun: %v\n", err)
			code = 1
			continue
		}
		for _, in := range inputs {
			rep := session.Run(rs, in.name, in.data, opts)
			if rep.Error != "" {
				code = 1
			}
			if *asJSON {
				if err := rep.WriteJSON(s.out); err != nil {
					fmt.Fprintf(s.err, "switchboard dryrun: %v\n", err)
					return 1
				}
			} else {
				rep.WriteText(s.out)
			}
		}
	}
	// The delayed checks (after:) of the payloads, with the state at
	// their due times.
	for _, rep := range session.Finish(rs, opts) {
		if *asJSON {
			if err := rep.WriteJSON(s.out); err != nil {
				fmt.Fprintf(s.err, "switchboard dryrun: %v\n", err)
				return 1
			}
		} else {
			rep.WriteText(s.out)
		}
	}
	return code
}

type input struct {
	name string
	data []byte
}

// maxPayload bounds one payload read by dryrun, as the service bounds bodies.
const maxPayload = 16 << 20

// expandPayloads reads a payload argument: a file, every *.json file of a
// directory (sorted), or standard input for "-".
func expandPayloads(p string, stdin io.Reader) ([]input, error) {
	if p == "-" {
		data, err := io.ReadAll(io.LimitReader(stdin, maxPayload))
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return []input{{name: "-", data: data}}, nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	files := []string{p}
	if st.IsDir() {
		files, err = filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.json files", p)
		}
	}
	out := make([]input, 0, len(files))
	for _, f := range files {
		data, err := readLimited(f)
		if err != nil {
			return nil, err
		}
		out = append(out, input{name: f, data: data})
	}
	return out, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxPayload))
}
