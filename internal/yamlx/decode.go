package yamlx

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/diag"
)

// Hook lets the caller decode some types itself (templates, say). It is
// called for every value before the built-in rules; it returns handled=false
// to let the decoder go on.
type Hook func(n *yaml.Node, v reflect.Value) (handled bool, err error)

// Decoder decodes yaml.Node trees into Go values strictly: mapping keys must
// match a field's `yaml` tag, each key may appear once, and a scalar must fit
// its field's type. Every problem is collected with its position. The zero
// Decoder is ready to use.
type Decoder struct {
	// Hook, if set, is offered every value first.
	Hook Hook
	// MaxNodes bounds the nodes visited, aliases included (0 = 1,000,000),
	// so that alias expansion cannot be used to make decoding explode.
	MaxNodes int

	visited int
}

// Decode decodes n into the value v points to and returns every problem found.
func (d *Decoder) Decode(n *yaml.Node, v any) []*diag.Error {
	var l diag.List
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return []*diag.Error{diag.At(n, "internal error: decode target is %T, not a pointer", v)}
	}
	d.decode(&l, n, rv.Elem())
	return l.Errs
}

// Decode decodes n into v with a zero Decoder.
func Decode(n *yaml.Node, v any) []*diag.Error {
	var d Decoder
	return d.Decode(n, v)
}

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
)

// maxErrors bounds the problems one Decode reports: past it, a file is
// broken enough, and a hostile one must not fill memory with messages.
const maxErrors = 200

func (d *Decoder) decode(l *diag.List, n *yaml.Node, v reflect.Value) {
	if l.Len() >= maxErrors {
		if l.Len() == maxErrors {
			l.Addf(n, "too many problems; stopping here")
		}
		return
	}
	limit := d.MaxNodes
	if limit <= 0 {
		limit = 1_000_000
	}
	if d.visited++; d.visited > limit {
		if d.visited == limit+1 {
			l.Addf(n, "document too large or too deeply aliased (over %d nodes)", limit)
		}
		return
	}
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		d.decode(l, n.Alias, v)
		return
	}
	if d.Hook != nil {
		handled, err := d.Hook(n, v)
		if err != nil {
			l.AddErr(n, err)
		}
		if handled {
			return
		}
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.Type().Elem() == nodeType {
			v.Set(reflect.ValueOf(n))
			return
		}
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(l, n, p.Elem())
		v.Set(p)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(l, n, v)
	case reflect.Slice:
		d.decodeSlice(l, n, v)
	case reflect.Map:
		d.decodeMap(l, n, v)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			l.Addf(n, "%s", cleanYAMLError(err))
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(l, n, v)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// Describe names the kind of a node for error messages.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return strconv.Quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an empty document"
}

func (d *Decoder) decodeStruct(l *diag.List, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.Addf(n, "expected a mapping, got %s", Describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.Addf(k, "expected a field name, got %s", Describe(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			l.Addf(k, "field %q already set at line %d", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		idx, ok := fields[k.Value]
		if !ok {
			l.Add(UnknownField(k, k.Value, keys(fields)))
			continue
		}
		d.decode(l, val, v.FieldByIndex(idx))
	}
}

// UnknownField reports an unknown key at k, suggesting the closest known one.
func UnknownField(k *yaml.Node, name string, known []string) *diag.Error {
	if s := diag.Suggest(name, known); s != "" {
		return diag.At(k, "unknown field %q (did you mean %q?)", name, s)
	}
	return diag.At(k, "unknown field %q", name)
}

func (d *Decoder) decodeSlice(l *diag.List, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.Addf(n, "expected a list, got %s", Describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(l, item, s.Index(i))
	}
	v.Set(s)
}

func (d *Decoder) decodeMap(l *diag.List, n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.Addf(n, "expected a mapping, got %s", Describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		l.Addf(n, "internal error: map key type %s", v.Type().Key())
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.Addf(k, "expected a key, got %s", Describe(k))
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			l.Addf(k, "key %q already set at line %d", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(l, val, e)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

func (d *Decoder) decodeScalar(l *diag.List, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		l.Addf(n, "expected %s, got %s", kindName(v.Type()), Describe(n))
		return
	}
	if isNull(n) {
		return
	}
	if v.Type() == durationType {
		dur, err := time.ParseDuration(n.Value)
		if err != nil || dur < 0 {
			l.Addf(n, "expected a duration such as 30s or 5m, got %q", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			l.Addf(n, "expected true or false, got %q", n.Value)
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			l.Addf(n, "expected an integer, got %q", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if err != nil {
			l.Addf(n, "expected a non-negative integer, got %q", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, v.Type().Bits())
		if err != nil {
			l.Addf(n, "expected a number, got %q", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		l.Addf(n, "internal error: cannot decode into %s", v.Type())
	}
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a " + t.String()
}

// fieldsOf maps the yaml names of a struct's fields to their indexes.
// Fields without a yaml tag, or tagged "-", are not decoded.
func fieldsOf(t reflect.Type) map[string][]int {
	out := make(map[string][]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("yaml")
		if !ok || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || name == "" {
			continue
		}
		out[name] = f.Index
	}
	return out
}

// FieldNames lists the yaml names of the fields of struct type t, for
// callers that check keys themselves.
func FieldNames(t reflect.Type) []string { return keys(fieldsOf(t)) }

func keys(m map[string][]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// cleanYAMLError strips the "yaml: " prefix the library puts on its errors.
func cleanYAMLError(err error) string {
	return strings.TrimPrefix(fmt.Sprint(err), "yaml: ")
}

// Parse parses data into a document node. A syntax error is returned as an
// *diag.Error with the line the parser reported.
func Parse(data []byte) (*yaml.Node, *diag.Error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, refineSyntax(data, syntaxError(err))
	}
	return &doc, nil
}

// syntaxError turns "yaml: line 7: did not find expected key" into a
// positioned Error. The parser gives no column.
func syntaxError(err error) *diag.Error {
	msg := cleanYAMLError(err)
	e := &diag.Error{Msg: msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, tail, found := strings.Cut(rest, ": ")
		if line, convErr := strconv.Atoi(num); convErr == nil && found {
			e.Line, e.Column, e.Msg = line, 1, tail
		}
	}
	e.Msg = "yaml syntax: " + e.Msg
	return e
}
