// Package builtin registers the action kinds Switchboard ships with: the
// only list of them. Adding a kind is one line here and its package under
// actions/; the service, the schema, dryrun, notify-test and the shared
// tests (actions/actionstest) all take the kinds from Kinds.
package builtin

import (
	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/email"
	"github.com/switchboard-dev/switchboard/actions/hubspot"
	logaction "github.com/switchboard-dev/switchboard/actions/log"
	"github.com/switchboard-dev/switchboard/actions/sheets"
	"github.com/switchboard-dev/switchboard/actions/slack"
	"github.com/switchboard-dev/switchboard/actions/teams"
	"github.com/switchboard-dev/switchboard/actions/telegram"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// registry lists the built-in kinds, one line each.
var registry = []actions.Defined{
	webhook.Kind,
	slack.Kind,
	email.Kind,
	logaction.Kind,
	telegram.Kind,
	teams.Kind,
	hubspot.Kind,
	sheets.Kind,
}

// Kinds returns the built-in action kinds by the name used in rules files.
// Each call returns a new map, which the caller may extend.
func Kinds() map[string]actions.Kind {
	out := make(map[string]actions.Kind, len(registry))
	for _, k := range registry {
		out[k.Name()] = k
	}
	return out
}
