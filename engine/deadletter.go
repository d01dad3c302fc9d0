package engine

import (
	"fmt"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/diag"
	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// DeadLetterAlert is a rules file's `on_dead_letter:`: the destination
// that receives a summary of new dead letters, at most one per Every.
//
//	on_dead_letter: ops-slack
//	on_dead_letter: {destination: ops-slack, every: 15m}
type DeadLetterAlert struct {
	Destination string
	// Every is the shortest time between two summaries; the dead letters
	// of an outage arrive together in one.
	Every time.Duration
	File  string
	Line  int
}

// DefaultAlertEvery is the window of on_dead_letter: without every:.
const DefaultAlertEvery = 15 * time.Minute

// deadLetterRef is an on_dead_letter: as written, checked once every
// file's destinations are loaded.
type deadLetterRef struct {
	dest  *yaml.Node
	file  string
	every time.Duration
	line  int
}

// loadDeadLetter reads a file's on_dead_letter: (n, under key k).
func (l *loader) loadDeadLetter(k, n *yaml.Node, file string, errs *diag.List) {
	if l.deadLetter != nil {
		errs.Addf(k, "on_dead_letter: already set in %s:%d (set it in one rules file)", l.deadLetter.file, l.deadLetter.line)
		return
	}
	ref := &deadLetterRef{file: file, line: k.Line, every: DefaultAlertEvery}
	switch n.Kind {
	case yaml.ScalarNode:
		ref.dest = n
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, v := n.Content[i], n.Content[i+1]
			switch key.Value {
			case "destination":
				ref.dest = v
			case "every":
				d, err := time.ParseDuration(v.Value)
				if err != nil || d < time.Second || v.Kind != yaml.ScalarNode {
					errs.Addf(v, "on_dead_letter: every: expected a duration of at least 1s, such as 15m, got %s", describeScalar(v))
					return
				}
				ref.every = d
			default:
				msg := fmt.Sprintf("on_dead_letter: unknown key %q (the keys are destination and every)", key.Value)
				if s := diag.Suggest(key.Value, []string{"destination", "every"}); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				errs.Addf(key, "%s", msg)
				return
			}
		}
		if ref.dest == nil {
			errs.Addf(k, "on_dead_letter: missing destination (such as on_dead_letter: {destination: ops, every: 15m})")
			return
		}
	default:
		errs.Addf(n, "on_dead_letter: expected a destination's name or {destination: NAME, every: 15m}, got %s", yamlx.Describe(n))
		return
	}
	if ref.dest.Kind != yaml.ScalarNode || ref.dest.Value == "" {
		errs.Addf(ref.dest, "on_dead_letter: expected a destination's name, got %s", yamlx.Describe(ref.dest))
		return
	}
	l.deadLetter = ref
}

// checkDeadLetter resolves on_dead_letter:'s destination once every file
// is loaded: it must exist and be of a kind that can carry a summary.
func (l *loader) checkDeadLetter() {
	ref := l.deadLetter
	if ref == nil {
		return
	}
	name := ref.dest.Value
	at := func(format string, args ...any) {
		l.errs.Add(&diag.Error{File: ref.file, Line: ref.dest.Line, Column: ref.dest.Column, Msg: fmt.Sprintf(format, args...)})
	}
	d, ok := l.rs.Destinations[name]
	switch {
	case !ok && l.badDests[name]:
		return // its own error is reported
	case !ok:
		names := make([]string, 0, len(l.rs.Destinations))
		for n := range l.rs.Destinations {
			names = append(names, n)
		}
		sort.Strings(names)
		if s := diag.Suggest(name, names); s != "" {
			at("on_dead_letter: unknown destination %q (did you mean %q?)", name, s)
		} else {
			at("on_dead_letter: unknown destination %q (destinations are defined under destinations:)", name)
		}
		return
	case !actions.CanNotify(l.opts.Kinds[d.Kind]):
		at("on_dead_letter: destination %q is of kind %s, which cannot send a summary", name, d.Kind)
		return
	}
	sample := actions.Notice{Type: "dead_letters", Subject: "Switchboard: 1 new dead letter", Text: "-", Count: 1}
	if _, err := actions.NoticeRequest(l.opts.Kinds[d.Kind], d.Config, sample); err != nil {
		at("on_dead_letter: destination %q cannot carry a summary: %v", name, err)
		return
	}
	l.rs.OnDeadLetter = &DeadLetterAlert{Destination: name, Every: ref.every, File: ref.file, Line: ref.line}
}

// keyNode returns the key node of key in mapping n (n itself if absent).
func keyNode(n *yaml.Node, key string) *yaml.Node {
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i]
			}
		}
	}
	return n
}
