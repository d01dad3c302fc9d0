package engine

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"

	"github.com/switchboard-dev/switchboard/actions"
)

// The expression environment. Conditions and templates see every payload
// field by its JSON name, a few aliases and derived values, and the helper
// functions below. Every name is documented in README.md ("Names in
// conditions and templates"); TestEnvNamesDocumented keeps the two in step.
//
// The environment is a map with every key present and a fixed Go type per
// key: a type-checked expr program is not nil-safe, so a missing payload
// field must be an empty string, never an absent key. A map with value
// structs is also the fastest environment expr has (0 allocations per
// comparison; see BENCHMARKS.md).

// Names of environment keys the engine derives; users never write them (the
// compiler rewrites calls such as lower(text) into them).
const (
	keyNow   = "__now"
	keyLower = "__lower_" // + field, e.g. __lower_text
)

// lowerable are the fields whose lower-cased value is computed once per
// event, so that `lower(text)` and `icontains(text, "x")` cost nothing per
// rule.
var lowerable = []string{"text", "caption", "file_name", "chat_title", "sender.wa_name"}

// envPrototype returns an environment with every key and its type; it is
// what conditions and templates are type-checked against.
func envPrototype() map[string]any {
	return NewEnv(&Event{}, time.Time{})
}

// NewEnv builds the evaluation environment of ev, with now as the time
// `now()` returns, no conversation state and an empty team directory. The
// map must not be changed once a rule reads it.
func NewEnv(ev *Event, now time.Time) map[string]any {
	return newEnv(ev, now, nil, nil)
}

// newEnv builds the environment with the chat's state (nil: an empty
// chat) and the team directory (nil: nobody).
func newEnv(ev *Event, now time.Time, chat *ChatState, isTeam func(string) bool) map[string]any {
	m := ev.Message
	sender, participants := ev.Sender, nonNil(ev.Participants)
	if isTeam != nil {
		sender.IsTeam = sender.Phone != "" && isTeam(sender.Phone)
		participants = slices.Clone(participants)
		for i := range participants {
			participants[i].IsTeam = participants[i].Phone != "" && isTeam(participants[i].Phone)
		}
	}
	var state ChatState
	if chat != nil {
		state = *chat
	}
	env := map[string]any{
		"chat_id":      ev.ChatID,
		"chat_type":    ev.ChatType,
		"chat_title":   ev.ChatTitle,
		"user_phone":   ev.UserPhone,
		"user_email":   ev.UserEmail,
		"direction":    ev.Direction,
		"message":      m,
		"timestamp":    ev.Timestamp,
		"time":         ev.Time,
		"participants": participants,
		"sender":       sender,
		"type":         m.Type,
		"text":         m.Text,
		"caption":      m.Caption,
		"file_name":    m.FileName,
		"is_group":     ev.ChatType == "group" || strings.HasSuffix(ev.ChatID, "@g.us"),
		"is_error":     m.IsError,
		"from_team":    FromTeam(ev, isTeam),
		"chat":         state,
		"digest":       Digest{},
		"group":        []GroupItem{},
		"lists":        emptyLists,
		keyNow:         now,
	}
	for _, f := range lowerable {
		env[keyLower+f] = strings.ToLower(fieldString(ev, f))
	}
	return env
}

func nonNil(p []Person) []Person {
	if p == nil {
		return []Person{}
	}
	return p
}

func fieldString(ev *Event, f string) string {
	switch f {
	case "text":
		return ev.Message.Text
	case "caption":
		return ev.Message.Caption
	case "file_name":
		return ev.Message.FileName
	case "chat_title":
		return ev.ChatTitle
	case "sender.wa_name":
		return ev.Sender.WaName
	}
	return ""
}

// valueOptions are the options templates compile with, boolOptions those
// of conditions. Both are built once: an expr.Env prototype is costly.
var (
	valueOptions = sync.OnceValue(exprOptions)
	boolOptions  = sync.OnceValue(func() []expr.Option {
		return append(exprOptions(), expr.AsBool())
	})
)

// exprOptions are the options every condition and template compiles with.
func exprOptions() []expr.Option {
	return []expr.Option{
		expr.Env(envPrototype()),
		expr.Function("icontains", func(p ...any) (any, error) {
			return containsFold(p[0].(string), p[1].(string)), nil
		}, new(func(string, string) bool)),
		expr.Function("phone", func(p ...any) (any, error) {
			return NormalizePhone(p[0].(string)), nil
		}, new(func(string) string)),
		expr.Patch(derivedPatcher{}),
		expr.MaxNodes(maxExprNodes),
	}
}

// maxExprNodes bounds the size of one expression (expr's own default is
// 10,000); a larger one is a load error.
const maxExprNodes = 2000

// NormalizePhone reduces a phone number or WhatsApp id to its digits (see
// actions.NormalizePhone, the one implementation, which kinds use too).
func NormalizePhone(s string) string { return actions.NormalizePhone(s) }

// containsFold reports whether sub is within s, ignoring case.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// derivedPatcher rewrites expressions to read values computed once per
// event instead of once per rule:
//
//	now()                  -> the event's evaluation time
//	lower(text)            -> the lower-cased text, computed once
//	icontains(text, "Hi")  -> lower-cased text contains "hi"
type derivedPatcher struct{}

func (derivedPatcher) Visit(node *ast.Node) {
	// now() and lower() are expr builtins, parsed as BuiltinNode.
	if b, ok := (*node).(*ast.BuiltinNode); ok {
		switch {
		case b.Name == "now" && len(b.Arguments) == 0:
			ast.Patch(node, &ast.IdentifierNode{Value: keyNow})
		case b.Name == "lower" && len(b.Arguments) == 1:
			if f := lowerableField(b.Arguments[0]); f != "" {
				ast.Patch(node, &ast.IdentifierNode{Value: keyLower + f})
			}
		}
		return
	}
	call, ok := (*node).(*ast.CallNode)
	if !ok {
		return
	}
	callee, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	switch {
	case callee.Value == "now" && len(call.Arguments) == 0:
		ast.Patch(node, &ast.IdentifierNode{Value: keyNow})
	case callee.Value == "lower" && len(call.Arguments) == 1:
		if f := lowerableField(call.Arguments[0]); f != "" {
			ast.Patch(node, &ast.IdentifierNode{Value: keyLower + f})
		}
	case callee.Value == "icontains" && len(call.Arguments) == 2:
		f := lowerableField(call.Arguments[0])
		sub, isConst := call.Arguments[1].(*ast.StringNode)
		if f != "" && isConst {
			ast.Patch(node, &ast.BinaryNode{
				Operator: "contains",
				Left:     &ast.IdentifierNode{Value: keyLower + f},
				Right:    &ast.StringNode{Value: strings.ToLower(sub.Value)},
			})
		}
	}
}

// lowerableField returns the lowerable field n reads ("text" for both
// `text` and `message.text`), or "".
func lowerableField(n ast.Node) string {
	switch path := fieldPath(n); path {
	case "message.text", "message.caption", "message.file_name":
		return strings.TrimPrefix(path, "message.")
	case "text", "caption", "file_name", "chat_title", "sender.wa_name":
		return path
	}
	return ""
}

// fieldPath returns the dotted path n reads ("message.type"), or "" if n is
// not a plain field access.
func fieldPath(n ast.Node) string {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value
	case *ast.MemberNode:
		prop, ok := n.Property.(*ast.StringNode)
		if !ok || n.Method {
			return ""
		}
		base := fieldPath(n.Node)
		if base == "" {
			return ""
		}
		return base + "." + prop.Value
	}
	return ""
}
