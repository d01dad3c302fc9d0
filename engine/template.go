package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/checker"
	exprcompiler "github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// Templates are strings with `{{ expr }}` parts, written in action fields:
//
//	"{{ sender.wa_name }} sent {{ file_name }}"
//
// Each part is an expr expression in the same environment as conditions,
// compiled and type-checked at load. Only the rules file is ever compiled:
// payload text is data, so `{{ }}` inside a WhatsApp message stays text.

// textTemplate is a compiled template string.
type textTemplate struct {
	src   string
	parts []part
}

// part is a literal run of text, or an expression (prog != nil).
type part struct {
	lit  string
	prog *vm.Program
}

func (t *textTemplate) Source() string { return t.src }

func (t *textTemplate) Static() bool {
	for _, p := range t.parts {
		if p.prog != nil {
			return false
		}
	}
	return true
}

// Render evaluates each expression and joins the parts; values from the
// event go through esc.
func (t *textTemplate) Render(env actions.Env, esc actions.Escaper) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.prog == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := runProgram(p.prog, env)
		if err != nil {
			return "", fmt.Errorf("template %q: %w", truncate(t.src, 60), err)
		}
		s := formatValue(v)
		if esc != nil {
			s = esc(s)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// single returns the program of a template that is exactly one {{ expr }}.
func (t *textTemplate) single() *vm.Program {
	if len(t.parts) == 1 {
		return t.parts[0].prog
	}
	return nil
}

// runProgram runs p against env, turning a panic into an error: expr
// already recovers inside its VM, this guards everything around it.
func runProgram(p *vm.Program, env actions.Env) (out any, err error) {
	m := machines.Get().(*vm.VM)
	defer func() {
		machines.Put(m)
		if r := recover(); r != nil {
			err = fmt.Errorf("evaluation panicked: %v", r)
		}
	}()
	return m.Run(p, env)
}

// machines are reusable VMs: a vm.VM is not safe for concurrent use, but
// one per running evaluation is.
var machines = sync.Pool{New: func() any { return new(vm.VM) }}

// formatValue turns an expression's result into template text.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		if x.IsZero() {
			return ""
		}
		return x.Format(time.RFC3339)
	case time.Duration:
		return FormatDuration(x)
	case fmt.Stringer:
		return x.String()
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(data)
}

// FormatDuration prints a duration for people, as templates render it:
// to the second, without zero units (30m, 1h5m, 2h, 45s), where Go prints
// 30m0.000761156s.
func FormatDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// jsonValue turns an expression's result into a value for a JSON body.
// Every string inside it, however deeply nested (a list of participants),
// goes through esc.
func jsonValue(v any, esc actions.Escaper) any {
	switch x := v.(type) {
	case nil, bool, int, int64, float64:
		return v
	case string:
		if esc != nil {
			return esc(x)
		}
		return x
	case time.Time:
		return formatValue(x)
	case time.Duration:
		return FormatDuration(x)
	}
	// Structs (sender, message), lists and maps: their JSON form, with
	// every string escaped.
	data, err := json.Marshal(v)
	if err != nil {
		return formatValue(v)
	}
	var plain any
	if err := json.Unmarshal(data, &plain); err != nil {
		return formatValue(v)
	}
	return escapeAll(plain, esc)
}

func escapeAll(v any, esc actions.Escaper) any {
	if esc == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return esc(x)
	case []any:
		for i, e := range x {
			x[i] = escapeAll(e, esc)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = escapeAll(e, esc)
		}
	}
	return v
}

// compileText compiles the template held by scalar node n.
func compileText(n *yaml.Node) (*textTemplate, error) {
	if e := cutText(n); e != nil {
		return nil, e
	}
	src := n.Value
	t := &textTemplate{src: src}
	var errs diag.List
	rest, offset := src, 0
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			break
		}
		end := closing(rest[open+2:])
		if end < 0 {
			line, col := position(n, offset+open)
			errs.Add(&diag.Error{Line: line, Column: col, Msg: "template: \"{{\" is never closed by \"}}\""})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{lit: rest[:open]})
		}
		code := rest[open+2 : open+2+end]
		codeOffset := offset + open + 2
		if strings.TrimSpace(code) == "" {
			line, col := position(n, codeOffset)
			errs.Add(&diag.Error{Line: line, Column: col, Msg: "template: empty {{ }}"})
		} else if prog, err := compileExpr(code, false); err != nil {
			errs.Add(exprError(n, codeOffset, code, err))
		} else {
			t.parts = append(t.parts, part{prog: prog})
		}
		consumed := open + 2 + end + 2
		rest, offset = rest[consumed:], offset+consumed
	}
	if rest != "" || len(t.parts) == 0 {
		t.parts = append(t.parts, part{lit: rest})
	}
	if err := errs.Err(); err != nil {
		if n.LineComment != "" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			// "text: Order #{{ id }}": YAML cut the value at " #".
			for _, e := range errs.Errs {
				e.Msg += " (\" #\" starts a YAML comment, which cut this value; quote the whole value)"
			}
		}
		return nil, errs.Err()
	}
	return t, nil
}

// closing finds the "}}" that ends an expression in s, skipping string
// literals, and returns its index or -1.
func closing(s string) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote != '`' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '}' && i+1 < len(s) && s[i+1] == '}':
			return i
		}
	}
	return -1
}

// compileExpr compiles one expression against the event environment.
// Programs are immutable, so they are memoized by source across loads: a
// reload recompiles only the expressions that changed.
func compileExpr(code string, asBool bool) (*vm.Program, error) {
	if len(code) > maxExprLen {
		return nil, fmt.Errorf("expression is %d bytes long; the limit is %d", len(code), maxExprLen)
	}
	key := progKey{code: code, asBool: asBool}
	if p, ok := programs.Load(key); ok {
		return p.(*vm.Program), nil
	}
	c := configs.Get().(*exprConfigs)
	defer configs.Put(c)
	cfg := c.value
	if asBool {
		cfg = c.bool
	}
	p, err := compile(code, cfg)
	if err != nil {
		return nil, err
	}
	if programs.n.Add(1) > maxPrograms {
		programs.Clear() // a crude bound: rules files hold far fewer
		programs.n.Store(0)
	}
	programs.Store(key, p)
	return p, nil
}

type progKey struct {
	code   string
	asBool bool
}

// programs memoizes compiled programs (progKey -> *vm.Program).
var programs struct {
	sync.Map
	n atomic.Int64
}

// maxPrograms bounds the program cache.
const maxPrograms = 100_000

// exprConfigs are built expr configurations, one for templates and one for
// conditions. Building one (the environment's type information, the
// builtins) costs more than compiling a typical expression, so they are
// reused; a config is used by one goroutine at a time, hence the pool.
type exprConfigs struct{ value, bool *conf.Config }

var configs = sync.Pool{New: func() any {
	return &exprConfigs{value: newConfig(valueOptions()), bool: newConfig(boolOptions())}
}}

// newConfig applies options the way expr.Compile does.
func newConfig(opts []expr.Option) *conf.Config {
	cfg := conf.CreateNew()
	for _, op := range opts {
		op(cfg)
	}
	for name := range cfg.Disabled {
		delete(cfg.Builtins, name)
	}
	cfg.Check()
	return cfg
}

// compile is expr.Compile with a prepared config. A panic inside the
// compiler is an error: a bad rules file never takes the process down.
func compile(code string, cfg *conf.Config) (p *vm.Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compile expression: %v", r)
		}
	}()
	tree, err := checker.ParseCheck(code, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Optimize {
		if err := optimizer.Optimize(&tree.Node, cfg); err != nil {
			var fe *file.Error
			if errors.As(err, &fe) {
				return nil, fe.Bind(tree.Source)
			}
			return nil, err
		}
	}
	return exprcompiler.Compile(tree, cfg)
}

// maxExprLen bounds the source of one expression.
const maxExprLen = 16 << 10

// exprError positions an expr compile error inside the YAML file: code
// starts at byte offset of n.Value.
func exprError(n *yaml.Node, offset int, code string, err error) *diag.Error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		line, col := position(n, offset+leadingSpace(code))
		return &diag.Error{Line: line, Column: col, Msg: cleanExprMessage(err.Error())}
	}
	// fe.Line is 1-based, fe.Column 0-based, both within code.
	at := offset
	lines := strings.SplitAfter(code, "\n")
	for i := 0; i < fe.Line-1 && i < len(lines); i++ {
		at += len(lines[i])
	}
	at += fe.Column
	line, col := position(n, at)
	msg := cleanExprMessage(fe.Message)
	if h := typeHint(code, msg); h != "" {
		msg += ": " + h
	}
	return &diag.Error{Line: line, Column: col, Msg: msg}
}

func leadingSpace(s string) int { return len(s) - len(strings.TrimLeft(s, " \t\n")) }

// position maps a byte offset in n.Value to a line and column in the file.
// It is exact for single-line plain and quoted scalars without escapes, and
// for literal (|) blocks; folded and escaped scalars are approximate.
func position(n *yaml.Node, offset int) (line, col int) {
	v := n.Value
	offset = min(max(offset, 0), len(v))
	before := v[:offset]
	nl := strings.Count(before, "\n")
	lastNL := strings.LastIndexByte(before, '\n')
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// Content starts on the line after the indicator, indented by at
		// least one column more than the parent; assume two.
		indent := n.Column + 1
		return n.Line + 1 + nl, indent + (offset - lastNL - 1)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if nl == 0 {
			return n.Line, n.Column + 1 + offset
		}
	default:
		if nl == 0 {
			return n.Line, n.Column + offset
		}
	}
	return n.Line + nl, offset - lastNL
}

// cutText reports a plain (unquoted) one-line text whose line goes on with
// what reads as more text, not a comment: YAML ends a plain scalar at " #",
// so `text: order {{ id }} #4471 arrived` would silently send "order 12".
// A "#" followed by a letter or digit is taken for text (a comment is
// written "# like this"); a real comment after a template stays allowed.
func cutText(n *yaml.Node) *diag.Error {
	c := n.LineComment
	if n.Kind != yaml.ScalarNode || len(c) < 2 || c[0] != '#' || strings.Contains(n.Value, "\n") || strings.Contains(c, "\n") ||
		n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil
	}
	if r, _ := utf8.DecodeRuneInString(c[1:]); !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		return nil
	}
	at := &yaml.Node{Line: n.Line, Column: n.Column + utf8.RuneCountInString(n.Value) + 1}
	return diag.At(at, "\" #\" starts a YAML comment, which cut this text to `%s` (the rest, `%s`, is dropped); quote the whole value: '%s %s'",
		n.Value, c, strings.ReplaceAll(n.Value, "'", "''"), strings.ReplaceAll(c, "'", "''"))
}
