package engine

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// Named lists: a rules file's
//
//	lists:
//	  vip: ["+44 7700 900999", "+44 7700 900123"]
//	  blocked: {file: blocked.txt}
//
// makes `lists.vip` a set conditions test with `in`:
// `phone(sender.phone) in lists.vip`. An entry that is a phone number is
// also in the set as its digits (what phone() returns), so a list is
// written as people write numbers. A file holds one entry per line; blank
// lines and lines starting with # are skipped. Lists load with the rules:
// a reload reads them again.

var listName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// phoneLike matches what is written as a phone number.
var phoneLike = regexp.MustCompile(`^\+?[0-9 ()./-]{5,}$`)

// emptyLists is the lists of a rule set without any.
var emptyLists = map[string]map[string]bool{}

// listDef is where a list was defined.
type listDef struct {
	file string
	line int
}

// loadLists reads a file's `lists:`.
func (l *loader) loadLists(n *yaml.Node, file string, errs *diag.List) {
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() != "!!null" {
			errs.Addf(n, "lists: expected a mapping of list names to lists, got %s", yamlx.Describe(n))
		}
		return
	}
	if l.rs.lists == nil {
		l.rs.lists = map[string]map[string]bool{}
		l.listDefs = map[string]listDef{}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if !listName.MatchString(name) {
			errs.Addf(k, "lists: %q is not a list name (letters, digits and _, as in lists.vip)", name)
			continue
		}
		if prev, dup := l.listDefs[name]; dup {
			errs.Addf(k, "list %q already defined at %s:%d", name, prev.file, prev.line)
			continue
		}
		var entries []string
		switch {
		case v.Kind == yaml.SequenceNode:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					errs.Addf(e, "list %q: expected a text entry, got %s", name, yamlx.Describe(e))
					continue
				}
				entries = append(entries, e.Value)
			}
		case v.Kind == yaml.MappingNode:
			pathNode, rest := splitKey(v, "file")
			if pathNode == nil || len(rest.Content) > 0 || pathNode.Kind != yaml.ScalarNode {
				errs.Addf(v, "list %q: expected a list of entries, or {file: PATH} (one entry per line)", name)
				continue
			}
			data, err := l.opts.ReadFile(relative(file, pathNode.Value))
			if err != nil {
				errs.Addf(pathNode, "list %q: %v", name, err)
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					entries = append(entries, line)
				}
			}
		default:
			errs.Addf(v, "list %q: expected a list of entries, or {file: PATH} (one entry per line), got %s", name, yamlx.Describe(v))
			continue
		}
		set := make(map[string]bool, len(entries))
		for _, e := range entries {
			set[e] = true
			if phoneLike.MatchString(e) {
				if digits := NormalizePhone(e); digits != "" {
					set[digits] = true
				}
			}
		}
		l.rs.lists[name] = set
		l.listDefs[name] = listDef{file, k.Line}
	}
}

// listRef is a `lists.NAME` written in a condition.
type listRef struct {
	name string
	file string
	line int
	col  int
}

// listRefs returns the lists a condition names.
func listRefs(n *yaml.Node, file string) []listRef {
	tree, err := parser.Parse(n.Value)
	if err != nil {
		return nil
	}
	var out []listRef
	ast.Walk(&tree.Node, &visitor{fn: func(node ast.Node) {
		m, ok := node.(*ast.MemberNode)
		if !ok {
			return
		}
		id, ok := m.Node.(*ast.IdentifierNode)
		prop, ok2 := m.Property.(*ast.StringNode)
		if !ok || !ok2 || id.Value != "lists" {
			return
		}
		line, col := position(n, runeOffset(n.Value, prop.Location().From))
		out = append(out, listRef{name: prop.Value, file: file, line: line, col: col})
	}})
	return out
}

// checkListRefs reports every list a condition names that no file defines.
func (l *loader) checkListRefs() {
	names := make([]string, 0, len(l.rs.lists))
	for n := range l.rs.lists {
		names = append(names, n)
	}
	for _, r := range l.listRefs {
		if _, ok := l.rs.lists[r.name]; ok {
			continue
		}
		msg := fmt.Sprintf("no list is named %q (lists are defined under lists: at the top of a rules file)", r.name)
		if s := diag.Suggest(r.name, names); s != "" {
			msg = fmt.Sprintf("no list is named %q (did you mean %s?)", r.name, s)
		}
		l.errs.Add(&diag.Error{File: r.file, Line: r.line, Column: r.col, Msg: msg})
	}
}
