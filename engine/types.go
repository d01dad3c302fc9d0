package engine

import (
	"fmt"
	"strings"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"go.yaml.in/yaml/v3"
)

// KnownTypes are the message types Cooby documents, with the file types
// documents arrive as (pdf, csv, doc). The set is open: a condition may
// compare type with any string, but one that names none of these gets a
// warning, which is how `type == "documnet"` is caught.
var KnownTypes = []string{
	"chat", "image", "video", "document", "audio", "ptt", "sticker", "location", "vcard", "multi_vcard",
	"call_log", "reaction", "reaction_enc", "revoked", "keep_in_chat", "pin_message", "poll_creation",
	"poll_update", "ciphertext", "unknown", "pdf", "csv", "doc",
}

// typeFields are the names that hold a message type.
var typeFields = map[string]bool{"type": true, "message.type": true, "chat.last_type": true}

// typeWarnings returns a warning for every string literal that condition
// n compares a message type with (==, !=, in [...]) and that is not a
// known type.
func typeWarnings(n *yaml.Node) []*diag.Error {
	tree, err := parser.Parse(n.Value)
	if err != nil {
		return nil
	}
	known := map[string]bool{}
	for _, t := range KnownTypes {
		known[t] = true
	}
	var out []*diag.Error
	check := func(lit ast.Node) {
		s, ok := lit.(*ast.StringNode)
		if !ok || known[s.Value] {
			return
		}
		line, col := position(n, runeOffset(n.Value, s.Location().From))
		msg := fmt.Sprintf("%q is not a known Cooby message type", s.Value)
		if sug := diag.Suggest(strings.ToLower(s.Value), KnownTypes); sug != "" {
			msg += fmt.Sprintf("; did you mean %s?", sug)
		}
		out = append(out, &diag.Error{Line: line, Column: col, Msg: msg})
	}
	ast.Walk(&tree.Node, &visitor{fn: func(node ast.Node) {
		b, ok := node.(*ast.BinaryNode)
		if !ok {
			return
		}
		switch b.Operator {
		case "==", "!=":
			if typeFields[fieldPath(b.Left)] {
				check(b.Right)
			} else if typeFields[fieldPath(b.Right)] {
				check(b.Left)
			}
		case "in", "not in":
			if arr, ok := b.Right.(*ast.ArrayNode); ok && typeFields[fieldPath(b.Left)] {
				for _, e := range arr.Nodes {
					check(e)
				}
			}
		}
	}})
	return out
}

// runeOffset converts expr's rune offset in s to a byte offset.
func runeOffset(s string, runes int) int {
	i := 0
	for at := range s {
		if i == runes {
			return at
		}
		i++
	}
	return len(s)
}
