package alert

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
)

// Group is the dead letters of one destination and rule in a summary.
type Group struct {
	Destination, Rule string
	Count             int
	// Reason is the latest dead letter's reason.
	Reason string
}

// Dead is what a summary is made of.
type Dead struct {
	Groups      []Group // most dead letters first
	Count       int
	First, Last time.Time
}

func (b *batch) snapshot() Dead {
	d := Dead{Count: b.count, First: b.first, Last: b.last}
	for k, g := range b.groups {
		d.Groups = append(d.Groups, Group{Destination: k.destination, Rule: k.rule, Count: g.count, Reason: g.reason})
	}
	slices.SortFunc(d.Groups, func(x, y Group) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.Destination, y.Destination), cmp.Compare(x.Rule, y.Rule))
	})
	return d
}

// maxReason bounds the reason quoted per group, in bytes.
const maxReason = 300

// Summary is the notice announcing d.
func Summary(d Dead) actions.Notice {
	noun := "dead letters"
	if d.Count == 1 {
		noun = "dead letter"
	}
	n := actions.Notice{Type: "dead_letters", Count: d.Count, From: d.First, To: d.Last,
		Subject: fmt.Sprintf("Switchboard: %d new %s", d.Count, noun)}
	var b strings.Builder
	span := "at " + d.First.UTC().Format(time.DateTime) + " UTC"
	if d.Last.Sub(d.First) >= time.Second {
		span = "between " + d.First.UTC().Format(time.DateTime) + " and " + d.Last.UTC().Format(time.DateTime) + " UTC"
	}
	if d.Count == 1 {
		fmt.Fprintf(&b, "1 delivery became a dead letter %s: it will not be tried again unless replayed.\n", span)
	} else {
		fmt.Fprintf(&b, "%d deliveries became dead letters %s: they will not be tried again unless replayed.\n", d.Count, span)
	}
	for _, g := range d.Groups {
		switch {
		case g.Destination == "" && g.Rule == "":
			fmt.Fprintf(&b, "- other destinations and rules: %d\n", g.Count)
		case g.Destination == "":
			fmt.Fprintf(&b, "- rule %s (no destination): %d", g.Rule, g.Count)
		default:
			fmt.Fprintf(&b, "- %s, rule %s: %d", g.Destination, g.Rule, g.Count)
		}
		if g.Destination != "" || g.Rule != "" {
			if g.Reason != "" {
				fmt.Fprintf(&b, "; last reason: %s", cut(g.Reason, maxReason))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("List them with `switchboard deliveries --state dead`; send them again with `switchboard replay --dead`.")
	n.Text = b.String()
	return n
}

// cut shortens s to at most n bytes at a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
