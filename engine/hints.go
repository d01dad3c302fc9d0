package engine

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/parser"
)

// Messages from the expression compiler, rewritten for rule authors: in
// the words of the rules file (chat, message, sender), never a Go type
// name, with a hint where the mistake is a common one.

// objects are the environment's nested objects by Go type name: what the
// README calls them, and their type (for the field names to suggest).
var objects = map[string]struct {
	what string
	typ  reflect.Type
}{
	"Message":   {"message", reflect.TypeFor[Message]()},
	"Person":    {"sender or participant", reflect.TypeFor[Person]()},
	"ChatState": {"chat", reflect.TypeFor[ChatState]()},
	"Digest":    {"digest", reflect.TypeFor[Digest]()},
	"GroupItem": {"group item", reflect.TypeFor[GroupItem]()},
}

var (
	// noField is expr's message for a misspelt field of a nested object.
	noField = regexp.MustCompile(`^type engine\.(\w+) has no field (\S+)$`)
	// noName is expr's message for an unknown top-level name.
	noName = regexp.MustCompile(`^unknown name (\S+)$`)
	// badToken is the parser's message for a token out of place.
	badToken = regexp.MustCompile(`unexpected token (\w+)\("((?:[^"\\]|\\.)*)"\)`)
	// goTypes are Go type names that may remain in a message, and the
	// words that replace them.
	goTypes = strings.NewReplacer(
		"[]engine.Person", "list of people",
		"[]engine.GroupItem", "list of group items",
		"[]engine.ChatState", "list of chats",
		"engine.ChatState", "chat",
		"engine.Message", "message",
		"engine.Person", "person",
		"engine.Digest", "digest",
		"engine.GroupItem", "group item",
		"time.Duration", "duration",
		"time.Time", "time",
		"map[string]interface {}", "map",
		"[]interface {}", "list",
		"[]any", "list",
		"interface {}", "any",
	)
	goPkg = regexp.MustCompile(`\*?\b(engine|yamlx|strconv|reflect)\.`)
)

// envNames are the names a condition can use, for "did you mean".
var envNames = sync.OnceValue(func() []string {
	var out []string
	for k := range envPrototype() {
		if !strings.HasPrefix(k, "__") {
			out = append(out, k)
		}
	}
	out = append(out, "icontains", "phone")
	for _, f := range builtin.Builtins {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
})

// fieldNames are the expr names of struct type t's fields.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("expr"); tag != "" {
			out = append(out, tag)
		}
	}
	return out
}

func cleanExprMessage(msg string) string {
	msg, _, _ = strings.Cut(msg, "\n")
	if m := noField.FindStringSubmatch(msg); m != nil {
		if o, ok := objects[m[1]]; ok {
			msg = fmt.Sprintf("unknown field %s in %s", m[2], o.what)
			if s := diag.Suggest(m[2], fieldNames(o.typ)); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
		}
	} else if m := noName.FindStringSubmatch(msg); m != nil {
		if s := diag.Suggest(m[1], envNames()); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
	}
	msg = strings.ReplaceAll(msg, "unexpected token EOF", "the expression ends too early (a missing \")\" or closing quote?)")
	msg = badToken.ReplaceAllStringFunc(msg, func(tok string) string {
		m := badToken.FindStringSubmatch(tok)
		out := fmt.Sprintf("unexpected %q", m[2])
		if m[1] == "Operator" && m[2] == "=" {
			out += " (did you mean ==?)"
		}
		return out
	})
	msg = goTypes.Replace(msg)
	msg = goPkg.ReplaceAllString(msg, "")
	msg = strings.ReplaceAll(msg, keyNow, "now()")
	msg = strings.ReplaceAll(msg, keyLower, "lower ")
	return truncate(strings.TrimSpace(msg), 300)
}

// typeHint explains a comparison of a field with a literal of the wrong
// type: message.error_code is a string, so `message.error_code == 404`
// never holds; it should be `== "404"`.
func typeHint(code, msg string) string {
	if !strings.Contains(msg, "mismatched types") {
		return ""
	}
	tree, err := parser.Parse(code)
	if err != nil {
		return ""
	}
	var hint string
	v := &visitor{fn: func(n ast.Node) {
		b, ok := n.(*ast.BinaryNode)
		if !ok || hint != "" {
			return
		}
		switch b.Operator {
		case "==", "!=", "<", ">", "<=", ">=":
		default:
			return
		}
		for _, pair := range [][2]ast.Node{{b.Left, b.Right}, {b.Right, b.Left}} {
			path := fieldPath(pair[0])
			if path == "" {
				continue
			}
			kind := fieldKind(path)
			switch lit := pair[1].(type) {
			case *ast.IntegerNode:
				if kind == reflect.String {
					hint = fmt.Sprintf("%s is a string, compare it with \"%d\"", path, lit.Value)
				}
			case *ast.FloatNode:
				if kind == reflect.String {
					hint = fmt.Sprintf("%s is a string, compare it with \"%s\"", path, strconv.FormatFloat(lit.Value, 'f', -1, 64))
				}
			case *ast.StringNode:
				switch kind {
				case reflect.Int, reflect.Float64:
					hint = fmt.Sprintf("%s is a number, compare it with %s, without quotes", path, lit.Value)
				case reflect.Int64:
					hint = fmt.Sprintf("%s is a duration, compare it with duration(%q)", path, lit.Value)
				case reflect.Bool:
					hint = fmt.Sprintf("%s is true or false, compare it with %s, without quotes", path, lit.Value)
				}
			}
		}
	}}
	ast.Walk(&tree.Node, v)
	return hint
}

type visitor struct{ fn func(ast.Node) }

func (v *visitor) Visit(n *ast.Node) { v.fn(*n) }

// fieldKind is the Go kind of the value at path in the environment, or
// reflect.Invalid.
func fieldKind(path string) reflect.Kind {
	parts := strings.Split(path, ".")
	v, ok := envPrototype()[parts[0]]
	if !ok {
		return reflect.Invalid
	}
	t := reflect.TypeOf(v)
	for _, p := range parts[1:] {
		if t.Kind() != reflect.Struct {
			return reflect.Invalid
		}
		found := false
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("expr") == p {
				t, found = t.Field(i).Type, true
				break
			}
		}
		if !found {
			return reflect.Invalid
		}
	}
	return t.Kind()
}
