package actions

import (
	"reflect"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// Escaper escapes one value taken from a payload for the place it goes
// (Slack mrkdwn, HTML, a URL path). Literal template text is not escaped:
// it was written by the rules' author, not by a stranger on WhatsApp.
type Escaper func(string) string

// Template is a string field whose `{{ expr }}` parts are evaluated per
// event. The zero Template renders as "".
type Template struct {
	// Text is the compiled template; nil for a field that was not set.
	Text TextTemplate
	// Node is where the template was written, for error positions.
	Node *yaml.Node
}

// TextTemplate is a compiled string template.
type TextTemplate interface {
	// Render evaluates the template; every value taken from the event goes
	// through esc (nil: unchanged).
	Render(env Env, esc Escaper) (string, error)
	// Source is the template as written.
	Source() string
	// Static reports whether the template has no {{ }} parts, and so
	// renders the same for every event.
	Static() bool
}

// Set reports whether the field was present in the rules file.
func (t Template) Set() bool { return t.Text != nil }

// Render renders the template, or returns "" for an unset one.
func (t Template) Render(env Env, esc Escaper) (string, error) {
	if t.Text == nil {
		return "", nil
	}
	return t.Text.Render(env, esc)
}

// Value is a structured field (a request body, Slack blocks): any YAML
// value whose string leaves are templates. It renders to plain Go values
// (map[string]any, []any, string, float64, bool, nil) ready for
// encoding/json. A leaf that is exactly one `{{ expr }}` keeps the
// expression's type (a number stays a number).
type Value struct {
	Tree ValueTemplate
	Node *yaml.Node
}

// ValueTemplate is a compiled structured value.
type ValueTemplate interface {
	Render(env Env, esc Escaper) (any, error)
}

// Set reports whether the field was present in the rules file.
func (v Value) Set() bool { return v.Tree != nil }

// Render renders the value, or returns nil for an unset one.
func (v Value) Render(env Env, esc Escaper) (any, error) {
	if v.Tree == nil {
		return nil, nil
	}
	return v.Tree.Render(env, esc)
}

// Compiler compiles the templates found in action blocks. The engine
// provides it, so action packages never import the engine.
type Compiler interface {
	CompileText(n *yaml.Node) (TextTemplate, error)
	CompileValue(n *yaml.Node) (ValueTemplate, error)
}

// Block is one `actions:` entry or one `destinations:` entry, handed to a
// Kind to check and compile.
type Block struct {
	// Node is the entry's mapping (for a destination, without `kind:`).
	Node *yaml.Node
	// DestName and Dest are the destination an action refers to (by
	// `destination: NAME`) and its parsed configuration, or "" and nil.
	DestName string
	Dest     any
	// Compiler compiles templates; nil for destinations, which are static.
	Compiler Compiler
	// ReadFile reads a file the block names (a credentials file), by its
	// path as written, relative to the rules file's; nil when no file may
	// be read. Rules posted to the service read none of its files.
	ReadFile func(path string) ([]byte, error)

	errs diag.List
}

// Decode decodes the block strictly into v, a pointer to the kind's config
// struct (fields tagged `yaml:"name"`). Fields of type Template and Value
// are compiled as templates. Problems are collected (see Err); Decode
// reports whether there were none.
func (b *Block) Decode(v any) bool {
	before := b.errs.Len()
	d := yamlx.Decoder{Hook: b.hook}
	b.errs.Add(d.Decode(b.Node, v)...)
	return b.errs.Len() == before
}

var (
	templateType = reflect.TypeFor[Template]()
	valueType    = reflect.TypeFor[Value]()
)

func (b *Block) hook(n *yaml.Node, v reflect.Value) (bool, error) {
	switch v.Type() {
	case templateType:
		if b.Compiler == nil {
			return true, diag.At(n, "templates are not allowed here")
		}
		if n.Kind != yaml.ScalarNode {
			return true, diag.At(n, "expected a string, got %s", yamlx.Describe(n))
		}
		t, err := b.Compiler.CompileText(n)
		if err != nil {
			return true, err
		}
		v.Set(reflect.ValueOf(Template{Text: t, Node: n}))
		return true, nil
	case valueType:
		if b.Compiler == nil {
			return true, diag.At(n, "templates are not allowed here")
		}
		t, err := b.Compiler.CompileValue(n)
		if err != nil {
			return true, err
		}
		v.Set(reflect.ValueOf(Value{Tree: t, Node: n}))
		return true, nil
	}
	return false, nil
}

// Errorf records a problem positioned at n (the block itself if n is nil).
func (b *Block) Errorf(n *yaml.Node, format string, args ...any) {
	if n == nil {
		n = b.Node
	}
	b.errs.Addf(n, format, args...)
}

// Err returns every problem recorded so far, or nil.
func (b *Block) Err() error { return b.errs.Err() }

// Field returns the value node of key in the block's mapping, or nil. Use it
// to position errors about a field.
func (b *Block) Field(key string) *yaml.Node {
	n := b.Node
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
