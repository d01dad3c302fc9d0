// Package builtin registers the action kinds Switchboard ships with. Adding
// a kind is one line here (and its package under actions/).
package builtin

import (
	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/email"
	logaction "github.com/switchboard-dev/switchboard/actions/log"
	"github.com/switchboard-dev/switchboard/actions/slack"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// Kinds returns the built-in action kinds by the name used in rules files.
// Each call returns a new map, which the caller may extend.
func Kinds() map[string]actions.Kind {
	return map[string]actions.Kind{
		"http":  webhook.Kind{},
		"slack": slack.Kind{},
		"email": email.Kind{},
		"log":   logaction.Kind{},
	}
}
