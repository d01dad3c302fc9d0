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
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/switchboard-dev/switchboard/actions"
)

// Kind is the `log` action kind.
type Kind struct{}

var (
	_ actions.Kind       = Kind{}
	_ actions.Deliverer  = Kind{}
	_ actions.Formatter  = Kind{}
	_ actions.Configurer = Kind{}
)

// ConfigTypes returns the structs a `kind: log` destination and a
// `log:` action decode into, for the rules file's JSON Schema.
func (Kind) ConfigTypes() (destination, action any) {
	return destConfig{}, actionConfig{}
}

// ParseDestination checks a `kind: log` destination and returns a
// *Destination.
func (Kind) ParseDestination(b *actions.Block) (any, error) {
	d, err := parseDestination(b)
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Compile checks a `log:` action and returns its Renderer, which renders an
// Entry.
func (Kind) Compile(b *actions.Block) (actions.Renderer, error) {
	r, err := compile(b)
	if err != nil {
		return nil, err
	}
	return r, nil
}

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

// Wire returns the *Entry written for a stored one: its level filled from
// the destination (a *Destination, or nil), or DefaultLevel. It is pure.
func (Kind) Wire(dest any, r actions.Request) (any, error) {
	return Wire(dest, r)
}

// Wire is Kind.Wire with a typed result.
func Wire(dest any, r actions.Request) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return nil, fmt.Errorf("log: decoding request: %w", err)
	}
	if e.Level == "" {
		e.Level = DefaultLevel
		if d, ok := dest.(*Destination); ok && d != nil && d.Level != "" {
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
func (Kind) Format(wire any) (string, error) {
	e, ok := wire.(*Entry)
	if !ok || e == nil {
		return "", fmt.Errorf("log: not an entry: %T", wire)
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
