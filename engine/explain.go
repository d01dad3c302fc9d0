package engine

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// explainPart is one top-level && conjunct of a condition, compiled on its
// own so that --explain can say which one was false.
type explainPart struct {
	src  string
	prog *vm.Program
}

// explain says, for each rule that did not match, why.
func (rs *RuleSet) explain(env map[string]any, p *Plan) []Miss {
	matched := map[*Rule]bool{}
	var stopper *Rule
	for _, m := range p.Matches {
		matched[m.Rule] = true
		if m.Rule.Stop {
			stopper = m.Rule
		}
	}
	var out []Miss
	var machine vm.VM
	for _, r := range rs.Rules {
		if matched[r] {
			continue
		}
		var reason string
		switch {
		case !r.Enabled:
			reason = "disabled (enabled: false)"
		case r.Schedule != nil:
			reason = "a scheduled rule: it runs on its schedule, not on messages"
		case stopper != nil && r.Index > stopper.Index:
			reason = fmt.Sprintf("not evaluated: rule %q matched first and has stop: true", stopper.Name)
		default:
			reason = r.whyFalse(&machine, env)
		}
		out = append(out, Miss{Rule: r, Reason: reason})
	}
	return out
}

// whyFalse names the first conjunct of the rule's condition that is false.
func (r *Rule) whyFalse(m *vm.VM, env map[string]any) string {
	r.explainOnce.Do(r.compileParts)
	if len(r.parts) == 0 {
		if _, err := r.eval(m, env); err != nil {
			return "condition failed: " + err.Error()
		}
		return fmt.Sprintf("condition is false: %s", r.When)
	}
	for _, part := range r.parts {
		out, err := m.Run(part.prog, env)
		if err != nil {
			return fmt.Sprintf("%s failed: %v", part.src, err)
		}
		if b, _ := out.(bool); !b {
			return fmt.Sprintf("%s is false%s", part.src, valuesOf(part.src, env))
		}
	}
	return "condition is false: " + r.When
}

// compileParts splits the condition at top-level && and compiles each part.
func (r *Rule) compileParts() {
	tree, err := parser.Parse(r.When)
	if err != nil {
		return
	}
	for _, c := range conjuncts(tree.Node) {
		src := strings.TrimSpace(c.String())
		prog, err := compileExpr(src, true)
		if err != nil {
			// A part that does not stand alone (it uses a variable bound
			// elsewhere): explain the condition as a whole.
			r.parts = nil
			return
		}
		r.parts = append(r.parts, explainPart{src: src, prog: prog})
	}
}

// valuesOf shows the values of the fields an explained part reads, e.g.
// ` (direction is "sent")`.
func valuesOf(src string, env map[string]any) string {
	tree, err := parser.Parse(src)
	if err != nil {
		return ""
	}
	var shown []string
	seen := map[string]bool{}
	ast.Walk(&tree.Node, visitorFunc(func(n *ast.Node) {
		path := fieldPath(*n)
		if path == "" || seen[path] || len(shown) >= 3 {
			return
		}
		v, ok := lookupPath(env, path)
		if !ok {
			return
		}
		seen[path] = true
		shown = append(shown, fmt.Sprintf("%s is %s", path, showValue(v)))
	}))
	if len(shown) == 0 {
		return ""
	}
	return " (" + strings.Join(shown, ", ") + ")"
}

type visitorFunc func(*ast.Node)

func (f visitorFunc) Visit(n *ast.Node) { f(n) }

func lookupPath(env map[string]any, path string) (any, bool) {
	head, rest, nested := strings.Cut(path, ".")
	v, ok := env[head]
	if !ok {
		return nil, false
	}
	if !nested {
		switch v.(type) {
		case string, bool, int, float64:
			return v, true
		}
		return nil, false
	}
	switch x := v.(type) {
	case Message:
		return messageField(x, rest)
	case Person:
		switch rest {
		case "phone":
			return x.Phone, true
		case "wa_name":
			return x.WaName, true
		}
	}
	return nil, false
}

func messageField(m Message, f string) (any, bool) {
	switch f {
	case "id":
		return m.ID, true
	case "type":
		return m.Type, true
	case "text":
		return m.Text, true
	case "file_name":
		return m.FileName, true
	case "caption":
		return m.Caption, true
	case "is_error":
		return m.IsError, true
	case "error_code":
		return m.ErrorCode, true
	}
	return nil, false
}

// showValue prints a value the way it would be written in a condition.
func showValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", truncate(s, 80))
	}
	return formatValue(v)
}
