package engine

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// Two things keep large rule sets cheap, both read from the top-level &&
// conjuncts of each condition at load:
//
//   - The index: a rule that pins `type`, `direction` or `chat_type` to
//     constants can only match payloads with those values, so it is filed
//     under one of them and other payloads never look at it.
//   - The precheck: conjuncts that compare a string field with constants
//     (`chat_id == "..."`, `type in [...]`, `icontains(text, "...")`,
//     `sender.phone startsWith "44"`) are tested natively, without the expr
//     VM, before the condition runs; a condition made only of such
//     conjuncts never runs the VM at all.
//
// Both only skip rules that cannot match: they decide exactly as expr
// would (TestIndexMatchesLinearScan keeps them honest).

// indexedFields are the fields the index knows, most selective first.
var indexedFields = []string{"type", "direction", "chat_type"}

// conjunct ops the precheck evaluates.
const (
	opIn         = iota // field is one of values (== is a one-value in)
	opContains          // field contains values[0]
	opStartsWith        // field starts with values[0]
	opEndsWith          // field ends with values[0]
	opIContains         // lower(field) contains values[0] (already lower-cased)
)

// cond is one conjunct the precheck evaluates: op applied to a string field.
type cond struct {
	field  string // canonical path: "type", "chat_id", "sender.phone", ...
	get    func(*Event) string
	op     int
	values []string
}

// precheck is the natively evaluated part of a rule's condition.
type precheck struct {
	conds []cond
	// complete: the conds are the whole condition.
	complete bool
}

// compilePrecheck reads the conjuncts of a condition. It returns the
// precheck and, for the index, the values each indexed field is pinned to.
func compilePrecheck(src string) (precheck, map[string][]string) {
	tree, err := parser.Parse(src)
	if err != nil {
		return precheck{}, nil
	}
	var p precheck
	pinned := map[string][]string{}
	p.complete = true
	for _, conj := range conjuncts(tree.Node) {
		c, ok := condOf(conj)
		if !ok {
			p.complete = false
			continue
		}
		c.get = eventFields[c.field]
		p.conds = append(p.conds, c)
		if c.op == opIn && isIndexed(c.field) {
			if prev, ok := pinned[c.field]; ok {
				pinned[c.field] = intersect(prev, c.values)
			} else {
				pinned[c.field] = c.values
			}
		}
	}
	p.complete = p.complete && len(p.conds) > 0
	return p, pinned
}

func isIndexed(f string) bool {
	for _, x := range indexedFields {
		if x == f {
			return true
		}
	}
	return false
}

// conjuncts splits a condition at its top-level && operators.
func conjuncts(n ast.Node) []ast.Node {
	if b, ok := n.(*ast.BinaryNode); ok && (b.Operator == "&&" || b.Operator == "and") {
		return append(conjuncts(b.Left), conjuncts(b.Right)...)
	}
	return []ast.Node{n}
}

// condOf recognises `f == "c"`, `"c" == f`, `f in ["a", "b"]`,
// `f contains|startsWith|endsWith "c"` and `icontains(f, "c")` for a
// string field f.
func condOf(n ast.Node) (cond, bool) {
	switch n := n.(type) {
	case *ast.BinaryNode:
		switch n.Operator {
		case "==":
			if f := stringField(n.Left); f != "" {
				if s, ok := n.Right.(*ast.StringNode); ok {
					return cond{field: f, op: opIn, values: []string{s.Value}}, true
				}
			}
			if f := stringField(n.Right); f != "" {
				if s, ok := n.Left.(*ast.StringNode); ok {
					return cond{field: f, op: opIn, values: []string{s.Value}}, true
				}
			}
		case "in":
			f := stringField(n.Left)
			arr, ok := n.Right.(*ast.ArrayNode)
			if f == "" || !ok {
				return cond{}, false
			}
			values := make([]string, 0, len(arr.Nodes))
			for _, item := range arr.Nodes {
				s, ok := item.(*ast.StringNode)
				if !ok {
					return cond{}, false
				}
				values = append(values, s.Value)
			}
			return cond{field: f, op: opIn, values: values}, true
		case "contains", "startsWith", "endsWith":
			f := stringField(n.Left)
			s, ok := n.Right.(*ast.StringNode)
			if f == "" || !ok {
				return cond{}, false
			}
			op := map[string]int{"contains": opContains, "startsWith": opStartsWith, "endsWith": opEndsWith}[n.Operator]
			return cond{field: f, op: op, values: []string{s.Value}}, true
		}
	case *ast.CallNode:
		callee, ok := n.Callee.(*ast.IdentifierNode)
		if !ok || callee.Value != "icontains" || len(n.Arguments) != 2 {
			return cond{}, false
		}
		f := stringField(n.Arguments[0])
		s, ok := n.Arguments[1].(*ast.StringNode)
		if f == "" || !ok {
			return cond{}, false
		}
		return cond{field: f, op: opIContains, values: []string{strings.ToLower(s.Value)}}, true
	}
	return cond{}, false
}

// stringField returns the canonical path of a string field of the event
// that n reads, or "".
func stringField(n ast.Node) string {
	p := fieldPath(n)
	switch p {
	case "message.type", "message.text", "message.caption", "message.file_name":
		p = strings.TrimPrefix(p, "message.")
	}
	if _, ok := eventFields[p]; ok {
		return p
	}
	return ""
}

// eventFields reads the string fields of an event by canonical path.
var eventFields = map[string]func(*Event) string{
	"type":                  func(ev *Event) string { return ev.Message.Type },
	"direction":             func(ev *Event) string { return ev.Direction },
	"chat_type":             func(ev *Event) string { return ev.ChatType },
	"chat_id":               func(ev *Event) string { return ev.ChatID },
	"chat_title":            func(ev *Event) string { return ev.ChatTitle },
	"user_phone":            func(ev *Event) string { return ev.UserPhone },
	"user_email":            func(ev *Event) string { return ev.UserEmail },
	"timestamp":             func(ev *Event) string { return ev.Timestamp },
	"text":                  func(ev *Event) string { return ev.Message.Text },
	"caption":               func(ev *Event) string { return ev.Message.Caption },
	"file_name":             func(ev *Event) string { return ev.Message.FileName },
	"message.id":            func(ev *Event) string { return ev.Message.ID },
	"message.file_url":      func(ev *Event) string { return ev.Message.FileURL },
	"message.error_code":    func(ev *Event) string { return ev.Message.ErrorCode },
	"message.error_message": func(ev *Event) string { return ev.Message.ErrorMessage },
	"sender.phone":          func(ev *Event) string { return ev.Sender.Phone },
	"sender.wa_name":        func(ev *Event) string { return ev.Sender.WaName },
}

// allows reports whether the event satisfies every cond. env supplies the
// lower-cased copies made once per event.
func (p *precheck) allows(ev *Event, env map[string]any) bool {
	for i := range p.conds {
		c := &p.conds[i]
		v := c.get(ev)
		switch c.op {
		case opIn:
			ok := false
			for _, a := range c.values {
				if a == v {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		case opContains:
			if !strings.Contains(v, c.values[0]) {
				return false
			}
		case opStartsWith:
			if !strings.HasPrefix(v, c.values[0]) {
				return false
			}
		case opEndsWith:
			if !strings.HasSuffix(v, c.values[0]) {
				return false
			}
		case opIContains:
			lower, ok := env[keyLower+c.field].(string)
			if !ok {
				lower = strings.ToLower(v)
			}
			if !strings.Contains(lower, c.values[0]) {
				return false
			}
		}
	}
	return true
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

// index files each rule under one pinned field, or in always.
type index struct {
	by     map[string]map[string][]int // field -> value -> rule indexes, ascending
	always []int

	// merged caches candidate lists by (type, direction, chat_type): a
	// handful of combinations cover nearly all traffic. Bounded, since the
	// type is an open set that payloads choose.
	merged  sync.Map // string -> []int
	nMerged atomic.Int32
}

// maxMerged bounds the candidate-list cache.
const maxMerged = 1024

// lookup returns the candidate rules for an event's indexed values, in
// file order. The slice is shared: callers must not modify it.
func (ix *index) lookup(typ, direction, chatType string) []int {
	key := typ + "\x00" + direction + "\x00" + chatType
	if v, ok := ix.merged.Load(key); ok {
		return v.([]int)
	}
	c := ix.candidates(nil, typ, direction, chatType)
	if ix.nMerged.Load() < maxMerged {
		if _, loaded := ix.merged.LoadOrStore(key, c); !loaded {
			ix.nMerged.Add(1)
		}
	}
	return c
}

func (rs *RuleSet) buildIndex() {
	ix := &rs.index
	ix.by = map[string]map[string][]int{}
	for i, r := range rs.Rules {
		if !r.Enabled || r.Schedule != nil {
			continue
		}
		field := ""
		for _, f := range indexedFields {
			if _, ok := r.pinned[f]; ok {
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
		for _, v := range r.pinned[field] {
			if !seen[v] {
				seen[v] = true
				ix.by[field][v] = append(ix.by[field][v], i)
			}
		}
	}
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
