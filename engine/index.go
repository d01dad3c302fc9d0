package engine

import (
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// The prefilter index: a rule whose condition is a conjunction that pins
// `type`, `direction` or `chat_type` to constants can only match payloads
// with those values, so it is filed under one of them, and other payloads
// never evaluate it. Its condition still runs in full on candidates: the
// index only skips rules that cannot match.

// indexedFields are the fields the index knows, most selective first.
var indexedFields = []string{"type", "direction", "chat_type"}

// constraints maps an indexed field to the values a rule allows for it.
type constraints map[string][]string

// extractConstraints reads the top-level && conjuncts of a condition of the
// forms `field == "c"`, `"c" == field` and `field in ["a", "b"]`. complete
// reports whether the condition is nothing but such conjuncts, so that the
// constraints decide it alone.
func extractConstraints(src string) (c constraints, complete bool) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, false
	}
	c = constraints{}
	complete = true
	for _, conj := range conjuncts(tree.Node) {
		field, values := constraintOf(conj)
		if field == "" {
			complete = false
			continue
		}
		if prev, ok := c[field]; ok {
			values = intersect(prev, values)
		}
		c[field] = values
	}
	return c, complete && len(c) > 0
}

// precheck tests a rule's constraints against an event's indexed values
// before its condition runs: the index files a rule under one field, the
// precheck applies all of them, without the VM.
type precheck struct {
	fields [][]string // by position in indexedFields; nil = unconstrained
	// complete: the constraints are the whole condition.
	complete bool
}

func newPrecheck(c constraints, complete bool) precheck {
	p := precheck{complete: complete, fields: make([][]string, len(indexedFields))}
	for i, f := range indexedFields {
		if v, ok := c[f]; ok {
			p.fields[i] = nonNilStrings(v)
		}
	}
	return p
}

func nonNilStrings(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// allows reports whether the event values (in indexedFields order) satisfy
// every constraint.
func (p *precheck) allows(vals *[3]string) bool {
	for i, allowed := range p.fields {
		if allowed == nil {
			continue
		}
		ok := false
		for _, a := range allowed {
			if a == vals[i] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// conjuncts splits a condition at its top-level && operators.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

func constraintOf(n ast.Node) (string, []string) {
	b, ok := n.(*ast.BinaryNode)
	if !ok {
		return "", nil
	}
	switch b.Operator {
	case "==":
		if f := indexedField(b.Left); f != "" {
			if s, ok := b.Right.(*ast.StringNode); ok {
				return f, []string{s.Value}
			}
		}
		if f := indexedField(b.Right); f != "" {
			if s, ok := b.Left.(*ast.StringNode); ok {
				return f, []string{s.Value}
			}
		}
	case "in":
		f := indexedField(b.Left)
		arr, ok := b.Right.(*ast.ArrayNode)
		if f == "" || !ok {
			return "", nil
		}
		values := make([]string, 0, len(arr.Nodes))
		for _, item := range arr.Nodes {
			s, ok := item.(*ast.StringNode)
			if !ok {
				return "", nil
			}
			values = append(values, s.Value)
		}
		return f, values
	}
	return "", nil
}

func indexedField(n ast.Node) string {
	switch p := fieldPath(n); p {
	case "type", "message.type":
		return "type"
	case "direction", "chat_type":
		return p
	}
	return ""
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		for _, y := range b {
			if x == y {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// index files each rule under one constrained field, or in always.
type index struct {
	by     map[string]map[string][]int // field -> value -> rule indexes, ascending
	always []int
}

func (rs *RuleSet) buildIndex() {
	ix := index{by: map[string]map[string][]int{}}
	for i, r := range rs.Rules {
		if !r.Enabled {
			continue
		}
		field := ""
		for _, f := range indexedFields {
			if _, ok := r.constraints[f]; ok {
				field = f
				break
			}
		}
		if field == "" {
			ix.always = append(ix.always, i)
			continue
		}
		if ix.by[field] == nil {
			ix.by[field] = map[string][]int{}
		}
		seen := map[string]bool{}
		for _, v := range r.constraints[field] {
			if !seen[v] {
				seen[v] = true
				ix.by[field][v] = append(ix.by[field][v], i)
			}
		}
	}
	rs.index = ix
}

// candidates appends to buf, in file order, the rules that can match an
// event with these field values.
func (ix *index) candidates(buf []int, typ, direction, chatType string) []int {
	lists := [4][]int{
		ix.by["type"][typ],
		ix.by["direction"][direction],
		ix.by["chat_type"][chatType],
		ix.always,
	}
	// A k-way merge of four ascending lists; every rule is in at most one.
	var pos [4]int
	for {
		best, bestV := -1, 0
		for k := range lists {
			if pos[k] < len(lists[k]) {
				if v := lists[k][pos[k]]; best < 0 || v < bestV {
					best, bestV = k, v
				}
			}
		}
		if best < 0 {
			return buf
		}
		buf = append(buf, bestV)
		pos[best]++
	}
}
