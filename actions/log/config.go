package log

import (
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// Levels are the levels an entry may have, least severe first.
var Levels = []string{"debug", "info", "warn", "error"}

// DefaultLevel is the level of an action that sets none, on a destination
// that sets none.
const DefaultLevel = "info"

// reservedFields are keys log/slog writes itself.
var reservedFields = []string{"time", "level", "msg", "source"}

// Destination is a parsed `kind: log` destination. It only sets the default
// level of the actions that name it; log actions need no destination.
type Destination struct {
	// Level is the default level, one of Levels.
	Level string
}

// destConfig is a destination as written in the rules file.
type destConfig struct {
	Level string `yaml:"level"`
}

// actionConfig is a `log:` action as written in the rules file.
type actionConfig struct {
	Destination string                      `yaml:"destination"`
	Message     actions.Template            `yaml:"message"`
	Level       string                      `yaml:"level"`
	Fields      map[string]actions.Template `yaml:"fields"`
}

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{Level: c.Level}
	if d.Level == "" {
		d.Level = DefaultLevel
	}
	checkLevel(b, c.Level)
	return d, b.Err()
}

func compile(b *actions.Block) (*renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	// An action without level takes its destination's, added by Wire.
	r := &renderer{level: c.Level, message: c.Message}
	checkLevel(b, c.Level)
	if !c.Message.Set() || c.Message.Text.Source() == "" {
		b.Errorf(nil, "message is required")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Fields)) {
		switch {
		case slices.Contains(reservedFields, name):
			b.Errorf(keyNode(b.Field("fields"), name), "fields: %q is written by the logger itself; choose another name", name)
		case name == "" || strings.ContainsFunc(name, badKeyRune):
			b.Errorf(keyNode(b.Field("fields"), name), "fields: %q is not a field name (no spaces, quotes or =)", name)
		default:
			r.fields = append(r.fields, field{name: name, t: c.Fields[name]})
		}
	}
	return r, b.Err()
}

// keyNode returns the key node of key in mapping m (following an alias),
// for error positions.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; m != nil && m.Kind == yaml.AliasNode && i < 100; i++ {
		m = m.Alias
	}
	if m == nil || m.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return m
}

func checkLevel(b *actions.Block, level string) {
	if level != "" && !slices.Contains(Levels, level) {
		b.Errorf(b.Field("level"), "level: %q is not one of %s", level, strings.Join(Levels, ", "))
	}
}

func badKeyRune(r rune) bool {
	return r <= ' ' || r == '=' || r == '"' || r == 0x7f
}
