// Package log implements the `log` action kind: an entry written to the
// service's log. It needs no destination and no network, which makes it the
// kind of choice for demos, acceptance tests and trying rules out:
//
//	actions:
//	  - log: {message: "file {{ file_name }} from {{ sender.phone }}", level: info, fields: {chat: "{{ chat_title }}"}}
//
// Importers usually name the package logaction, to keep it apart from the
// standard library's log.
package log

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/switchboard-dev/switchboard/actions"
)

// Entry is a log entry. As the Body of a log Request its Level is "" when
// the action sets none; Wire fills it from the destination, or
// DefaultLevel.
type Entry struct {
	// Level is one of Levels.
	Level   string            `json:"level"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// field is one entry of `fields:` and its template.
type field struct {
	name string
	t    actions.Template
}

// renderer renders one compiled `log:` action.
type renderer struct {
	level   string
	message actions.Template
	fields  []field
}

// Render renders the entry for one event.
func (r *renderer) Render(env actions.Env) (actions.Request, error) {
	e := Entry{Level: r.level}
	var err error
	if e.Message, err = r.message.Render(env, nil); err != nil {
		return actions.Request{}, fmt.Errorf("log: message: %w", err)
	}
	if len(r.fields) > 0 {
		e.Fields = make(map[string]string, len(r.fields))
	}
	for _, f := range r.fields {
		if e.Fields[f.name], err = f.t.Render(env, nil); err != nil {
			return actions.Request{}, fmt.Errorf("log: field %s: %w", f.name, err)
		}
	}
	data, err := actions.JSON(e)
	if err != nil {
		return actions.Request{}, fmt.Errorf("log: %w", err)
	}
	return actions.Request{Body: data}, nil
}

// Wire is Kind's Wire with a typed result (dest is a *Destination, or
// nil).
func Wire(dest any, r actions.Request) (*Entry, error) {
	return actions.WireAs[*Entry](Kind, dest, r)
}

// wire returns the *Entry written for a stored one: its level filled from
// the destination (or nil), or DefaultLevel. It is pure.
func wire(d *Destination, e Entry, _ actions.Request) (*Entry, error) {
	if e.Level == "" {
		e.Level = DefaultLevel
		if d != nil && d.Level != "" {
			e.Level = d.Level
		}
	}
	if !slices.Contains(Levels, e.Level) {
		return nil, fmt.Errorf("log: level %q is not one of %s", e.Level, strings.Join(Levels, ", "))
	}
	return &e, nil
}

// Format prints the wire form (an *Entry) on one line, "level message
// k=v ...", with fields sorted by name. Values with spaces, quotes or
// control characters are quoted, so event text cannot forge a second line.
func format(e *Entry) (string, error) {
	if e == nil {
		return "", fmt.Errorf("log: no entry")
	}
	var b strings.Builder
	b.WriteString(e.Level)
	b.WriteByte(' ')
	if strings.ContainsFunc(e.Message, unprintable) {
		b.WriteString(strconv.Quote(e.Message))
	} else {
		b.WriteString(e.Message)
	}
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, " %s=%s", k, quote(e.Fields[k]))
	}
	return b.String(), nil
}

// quote quotes a field value when it would not read as one word.
func quote(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return unprintable(r) || unicode.IsSpace(r) || r == '"' || r == '='
	}) {
		return strconv.Quote(s)
	}
	return s
}

func unprintable(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }

// String describes the destination.
func (d *Destination) String() string {
	if d == nil {
		return "log destination"
	}
	return "log at level " + d.Level
}
