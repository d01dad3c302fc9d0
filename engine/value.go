package engine

import (
	"fmt"
	"strconv"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// valueTemplate is a structured value (a JSON body, Slack blocks) whose
// string leaves are templates. It renders to plain values for
// encoding/json: JSON is never assembled from strings.
type valueTemplate interface {
	Render(env actions.Env, esc actions.Escaper) (any, error)
}

type (
	mapValue struct {
		keys []string
		vals []valueTemplate
	}
	listValue  []valueTemplate
	constValue struct{ v any }
	textValue  struct{ t *textTemplate }
)

func (m *mapValue) Render(env actions.Env, esc actions.Escaper) (any, error) {
	out := make(map[string]any, len(m.keys))
	for i, k := range m.keys {
		v, err := m.vals[i].Render(env, esc)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (l listValue) Render(env actions.Env, esc actions.Escaper) (any, error) {
	out := make([]any, len(l))
	for i, item := range l {
		v, err := item.Render(env, esc)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (c constValue) Render(actions.Env, actions.Escaper) (any, error) { return c.v, nil }

// Render keeps the type of a leaf that is exactly one {{ expr }}: a number
// stays a number, a list a list. Other templates render to strings.
func (t textValue) Render(env actions.Env, esc actions.Escaper) (any, error) {
	if p := t.t.single(); p != nil {
		v, err := runProgram(p, env)
		if err != nil {
			return nil, fmt.Errorf("template %q: %w", truncate(t.t.src, 60), err)
		}
		return jsonValue(v, esc), nil
	}
	return t.t.Render(env, esc)
}

// maxValueDepth bounds the nesting of a structured value.
const maxValueDepth = 64

// compileValue compiles any YAML value into a valueTemplate.
func compileValue(n *yaml.Node) (valueTemplate, error) {
	var errs diag.List
	v := compileValueAt(n, 0, &errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

func compileValueAt(n *yaml.Node, depth int, errs *diag.List) valueTemplate {
	if depth > maxValueDepth {
		errs.Addf(n, "value nested more than %d levels deep", maxValueDepth)
		return constValue{}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 1 {
			return compileValueAt(n.Content[0], depth, errs)
		}
		return constValue{}
	case yaml.AliasNode:
		if n.Alias == nil {
			return constValue{}
		}
		return compileValueAt(n.Alias, depth+1, errs)
	case yaml.MappingNode:
		m := &mapValue{}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				errs.Addf(k, "expected a key, got %s", yamlx.Describe(k))
				continue
			}
			if seen[k.Value] {
				errs.Addf(k, "key %q already set", k.Value)
				continue
			}
			seen[k.Value] = true
			m.keys = append(m.keys, k.Value)
			m.vals = append(m.vals, compileValueAt(n.Content[i+1], depth+1, errs))
		}
		return m
	case yaml.SequenceNode:
		l := make(listValue, len(n.Content))
		for i, item := range n.Content {
			l[i] = compileValueAt(item, depth+1, errs)
		}
		return l
	}
	switch n.ShortTag() {
	case "!!null":
		return constValue{nil}
	case "!!bool":
		b, _ := strconv.ParseBool(n.Value)
		var v bool
		if err := n.Decode(&v); err == nil {
			b = v
		}
		return constValue{b}
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			errs.Addf(n, "invalid number %q", n.Value)
		}
		return constValue{f}
	}
	t, err := compileText(n)
	if err != nil {
		errs.AddErr(n, err)
		return constValue{}
	}
	if t.Static() {
		return constValue{n.Value}
	}
	return textValue{t}
}
