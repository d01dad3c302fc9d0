package engine

import (
	"fmt"
	"slices"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"
)

// DefaultIgnoreTypes are the message types that carry no conversation:
// they neither open a wait for a reply nor answer one, and leave the chat's
// state as it was. A rules file changes the list with
//
//	conversation:
//	  ignore_types: [reaction, revoked]
var DefaultIgnoreTypes = []string{
	"reaction", "reaction_enc", "revoked", "keep_in_chat", "pin_message", "poll_update", "ciphertext",
}

// conversationSpec is a rules file's `conversation:`.
type conversationSpec struct {
	IgnoreTypes *[]string `yaml:"ignore_types"`
}

func quietSet(types []string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}

// loadConversation reads `conversation:`; only one file may set it.
func (l *loader) loadConversation(c *conversationSpec, root *yaml.Node, file string, errs *diag.List) {
	if c.IgnoreTypes == nil {
		return
	}
	at := root
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "conversation" {
			at = root.Content[i]
		}
	}
	if l.convFile != "" {
		errs.Addf(at, "conversation: already set in %s (set it in one rules file)", l.convFile)
		return
	}
	l.convFile = fmt.Sprintf("%s:%d", file, at.Line)
	l.rs.IgnoreTypes = slices.Clone(*c.IgnoreTypes)
	l.rs.quiet = quietSet(*c.IgnoreTypes)
}

// Carries reports whether a message takes part in the conversation: a
// sent message that failed (message.is_error: it never reached the
// customer) does not, nor do the types of IgnoreTypes (reactions, deleted
// messages...). Such a message is still evaluated by the rules; it only
// leaves the chat's state as it was.
func (rs *RuleSet) Carries(ev *Event) bool {
	if ev.Direction == "sent" && ev.Message.IsError {
		return false
	}
	return !rs.quiet[ev.Message.Type]
}
