package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
)

// clientFlags are the flags every client command shares, documented once
// (under deliveries) and referred to as "the client flags" elsewhere.
var clientFlags = []string{"server", "admin-token", "data"}

// TestReadmeDocumentsEveryCommandAndFlag: every command has a section in
// the README's Commands, and every flag its --help lists is in that
// section, so the manual never lags the binary.
func TestReadmeDocumentsEveryCommandAndFlag(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	doc := string(data)
	flagLine := regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)
	for _, c := range commands() {
		start := strings.Index(doc, "### `switchboard "+c.name)
		require.Positive(t, start, "README has no section for %s", c.name)
		section := doc[start+4:]
		if end := strings.Index(section, "\n### "); end >= 0 {
			section = section[:end]
		}
		if end := strings.Index(section, "\n## "); end >= 0 {
			section = section[:end]
		}
		_, _, help := cli(t, "", c.name, "--help")
		for _, m := range flagLine.FindAllStringSubmatch(help, -1) {
			name := m[1]
			documented := regexp.MustCompile("(^|[`\\s])--?" + regexp.QuoteMeta(name) + "([`\\s,=|]|$)")
			if documented.MatchString(section) {
				continue
			}
			if slices.Contains(clientFlags, name) && strings.Contains(strings.ToLower(section), "client flags") {
				continue
			}
			t.Errorf("README's section on %s does not document its flag -%s", c.name, name)
		}
	}
}

// TestReadmeDiffExample: the README's diff example is what printDiff
// prints for such a report.
func TestReadmeDiffExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	doc := string(data)
	const cmd = "$ switchboard diff rules.new.yaml --since 2h\n"
	start := strings.Index(doc, cmd)
	require.Positive(t, start)
	example := doc[start+len(cmd):]
	example = example[:strings.Index(example, "```")]
	at := func(s string) time.Time {
		v, err := time.ParseInLocation(time.DateTime, s, time.Local)
		require.NoError(t, err)
		return v
	}
	rep := &app.DiffReport{Running: "b8c38d18b1fc", New: "b37ac7403e25", Since: at("2026-11-25 15:58:30"), Events: 42, Changed: 1,
		Diffs: []app.EventDiff{{EventID: 17, ReceivedAt: at("2026-11-25 16:20:03"), Summary: `received chat 3EB0C431 in "Acme"`,
			Changed: []app.ActionDiff{{Rule: "received-to-slack", Action: 1, Kind: "slack", Destination: "support-slack",
				Old: json.RawMessage(`{"text":"Ana in Acme: hi","unfurl_links":false,"unfurl_media":false}`),
				New: json.RawMessage(`{"text":"*Ana* in Acme: hi","unfurl_links":false,"unfurl_media":false}`)}}}}}
	var b strings.Builder
	printDiff(&b, rep)
	require.Equal(t, example, b.String())
}

// TestQuickStartPostMakesNoDeadLetter: the payload the quick start posts to
// `make run` gives the example rules only deliveries that succeed on a
// fresh machine (log lines), none to the example's unreachable hosts.
func TestQuickStartPostMakesNoDeadLetter(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	m := regexp.MustCompile(`curl -X POST --data-binary @(\S+\.json) http://127\.0\.0\.1:8080/hooks/cooby/`).FindStringSubmatch(string(data))
	require.NotNil(t, m, "the quick start's curl")
	rs, err := loadRules([]string{example})
	require.NoError(t, err)
	payload, err := os.ReadFile("../../" + m[1])
	require.NoError(t, err)
	now := time.Now().UTC()
	var s dryrun.Session
	reps := append([]*dryrun.Report{s.Run(rs, m[1], payload, dryrun.Options{Now: now})},
		s.Finish(rs, dryrun.Options{Now: now.Add(time.Hour)})...) // its delayed checks too
	n := 0
	for _, rep := range reps[:1] {
		for _, mt := range rep.Matched {
			for _, a := range mt.Actions {
				n++
				require.Equal(t, "log", a.Kind, "%s %s would go to an unreachable example host", mt.Rule, engine.ActionLabel(a.Number-1, a.Name))
			}
		}
	}
	for _, rep := range reps[1:] {
		if strings.HasPrefix(rep.Payload, "scheduled ") {
			continue // the digest runs at 09:00 whatever is posted
		}
		for _, mt := range rep.Matched {
			for _, a := range mt.Actions {
				require.Equal(t, "log", a.Kind, "%s (delayed) would go to an unreachable example host", mt.Rule)
			}
		}
	}
	require.Positive(t, n, "the quick start's post makes a delivery to look at")
}
