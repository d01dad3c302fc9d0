package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/app"
)

func runDiff(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "diff", "[-r] NEW...",
		"Replay the events a running server stored in the last --since through its running rules\n"+
			"and through NEW rules (local files, sent to the server), and print per event the actions\n"+
			"the new rules would add (+), remove (-) or render differently (~), exactly as they would\n"+
			"be sent, secrets redacted. Nothing is stored or sent. Exit status 0 if nothing would\n"+
			"change, 1 if something would, 2 on error (the new rules do not load, say).")
	var c client
	c.flags(fs)
	rulesOpt := addRulesFlag(fs, "the new rules file or directory (repeatable); arguments are rules too")
	since := fs.Duration("since", 24*time.Hour, "replay the events received in this last period")
	limit := fs.Int("limit", 100, "list at most this many changed events")
	asJSON := fs.Bool("json", false, "print the server's JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	rulesOpt.setArgs(fs, pos)
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard diff: %v\n", err)
		return 2
	}
	rules := rulesOpt.paths
	if len(rules) == 0 {
		fmt.Fprintln(s.err, "switchboard diff: the new rules are required (-r NEW, or NEW as an argument)")
		return 2
	}
	req, err := diffRequest(rules)
	if err != nil {
		fmt.Fprintf(s.err, "switchboard diff: %v\n", err)
		return 2
	}
	q := url.Values{"since": {since.String()}, "limit": {strconv.Itoa(*limit)}}
	var rep app.DiffReport
	if err := c.send(ctx, http.MethodPost, "/api/diff", q, req, &rep, true); err != nil {
		fmt.Fprintf(s.err, "switchboard diff: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printDiff(s.out, &rep)
	}
	if rep.Changed > 0 {
		return 1
	}
	return 0
}

// diffRequest reads a snapshot of the new rules, and the files they name
// (a tests: file, test payloads, list files), which the server cannot
// read: they are sent with the rules; key files destinations name never
// are. The rules are loaded here only to
// learn which files they name; the server loads them (with its
// environment, so a ${VAR} unset here is no problem) and reports their
// errors.
func diffRequest(paths []string) (*app.DiffRequest, error) {
	snap, err := readRules(paths)
	if err != nil {
		return nil, err
	}
	anyEnv := func(string) (string, bool) { return "x", true }
	noSecrets := func(name string) ([]byte, error) { return nil, fmt.Errorf("%s: a key file is not sent", name) }
	_, _ = engine.Load(engine.Options{Kinds: builtin.Kinds(), LookupEnv: anyEnv, ReadFile: snap.ReadFile, ReadSecretFile: noSecrets}, snap.Sources...)
	req := &app.DiffRequest{}
	for _, src := range snap.Sources {
		req.Files = append(req.Files, app.DiffFile{Name: src.Name, Content: string(src.Data)})
	}
	sent := map[string]bool{}
	for _, src := range snap.Sources {
		sent[filepath.Clean(src.Name)] = true
	}
	for _, src := range snap.NamedSources() {
		if !sent[filepath.Clean(src.Name)] { // a tests file among the rules files is sent once
			req.Named = append(req.Named, app.DiffFile{Name: src.Name, Content: string(src.Data)})
		}
	}
	return req, nil
}

func printDiff(w io.Writer, rep *app.DiffReport) {
	fmt.Fprintf(w, "running rules %s, new rules %s\n", rep.Running, rep.New)
	fmt.Fprintf(w, "%d events received since %s replayed: %d would change\n", rep.Events, stamp(rep.Since), rep.Changed)
	if len(rep.TestFailures) > 0 {
		fmt.Fprintln(w, "warning: the new rules' tests fail, so a reload would refuse them:")
		for _, f := range rep.TestFailures {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
	for _, d := range rep.Diffs {
		fmt.Fprintf(w, "\nevent %d at %s: %s\n", d.EventID, stamp(d.ReceivedAt), d.Summary)
		for _, a := range d.Added {
			fmt.Fprintf(w, "  + %s\n", actionTitle(a))
			fmt.Fprint(w, prefixLines(actions.IndentJSON(string(a.New)), "      "))
		}
		for _, a := range d.Removed {
			fmt.Fprintf(w, "  - %s\n", actionTitle(a))
			fmt.Fprint(w, prefixLines(actions.IndentJSON(string(a.Old)), "      "))
		}
		for _, a := range d.Changed {
			fmt.Fprintf(w, "  ~ %s\n", actionTitle(a))
			fmt.Fprint(w, lineDiff(actions.IndentJSON(string(a.Old)), actions.IndentJSON(string(a.New)), "    "))
		}
	}
	if rep.Truncated {
		fmt.Fprintf(w, "\n(%d changed events listed of %d; raise --limit or narrow --since)\n", len(rep.Diffs), rep.Changed)
	}
}

func actionTitle(a app.ActionDiff) string {
	t := fmt.Sprintf("%s %s: %s", a.Rule, engine.ActionLabel(a.Action-1, a.Name), a.Kind)
	if a.Destination != "" {
		t += " -> " + a.Destination
	}
	return t
}

func prefixLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}

// lineDiff prints new against old line by line (a longest common
// subsequence): "  " common, "- " old only, "+ " new only.
func lineDiff(old, next, prefix string) string {
	a := strings.Split(strings.TrimRight(old, "\n"), "\n")
	b := strings.Split(strings.TrimRight(next, "\n"), "\n")
	if len(a)*len(b) > 1<<22 { // too big to align: show both whole
		return prefixLines(old, prefix+"- ") + prefixLines(next, prefix+"+ ")
	}
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out.WriteString(prefix + "  " + a[i] + "\n")
			i, j = i+1, j+1
		case j == len(b) || (i < len(a) && lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString(prefix + "- " + a[i] + "\n")
			i++
		default:
			out.WriteString(prefix + "+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}

// send is client.do with a JSON body, the server's positioned errors in
// the error, and the admin token read only if needToken (GET /status is
// public).
func (c *client) send(ctx context.Context, method, path string, query url.Values, in, out any, needToken bool) error {
	if c.token == "" {
		tok, err := app.ReadAdminToken(c.data)
		if err != nil && needToken {
			return fmt.Errorf("%w (pass --admin-token or --data)", err)
		}
		c.token = tok
	}
	u := strings.TrimRight(c.base(), "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("contacting %s: %w", c.server, errorWithoutURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error  string
			Errors []string
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			if len(e.Errors) > 0 {
				return fmt.Errorf("%s:\n%s", e.Error, strings.Join(e.Errors, "\n"))
			}
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	if raw, ok := out.(*[]byte); ok { // the body as it comes
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}
