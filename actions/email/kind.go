package email

import (
	"errors"
	"net/mail"

	"github.com/switchboard-dev/switchboard/actions"
)

// Kind is the `email` action kind. Its test message is a plain-text
// message to --to, or to the destination's default recipients.
var Kind = actions.Define(actions.Spec[*Destination, Draft, *Message]{
	Name:              "email",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination:  parseDestination,
	Compile: func(b *actions.Block, _ *Destination) (actions.Renderer, error) {
		r, err := compile(b)
		if err != nil {
			return nil, err
		}
		return r, nil
	},
	Wire:      wire,
	NewSender: newSender,
	Format:    format,
	Test:      testDraft,
	Notice:    notice,
})

// testDraft is the message of `switchboard notify-test`.
func testDraft(d *Destination, o actions.TestOptions) (Draft, error) {
	draft := Draft{Subject: "Switchboard test message", Text: o.Text}
	if o.To != "" {
		a, err := mail.ParseAddress(o.To)
		if err != nil {
			return Draft{}, err
		}
		draft.To = []string{a.String()}
	} else {
		if len(d.To) == 0 {
			return Draft{}, errors.New("email: the destination has no to: recipients; pass --to ADDRESS")
		}
		draft.DefaultTo = true
	}
	return draft, nil
}
