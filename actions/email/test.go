package email

import (
	"errors"
	"net/mail"

	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Tester = Kind{}

// TestRequest is a plain-text message to o.To, or to the destination's
// default recipients.
func (Kind) TestRequest(dest any, o actions.TestOptions) (actions.Request, error) {
	d, ok := dest.(*Destination)
	if !ok {
		return actions.Request{}, errors.New("email: a test needs a destination")
	}
	draft := Draft{Subject: "Switchboard test message", Text: o.Text}
	if o.To != "" {
		a, err := mail.ParseAddress(o.To)
		if err != nil {
			return actions.Request{}, err
		}
		draft.To = []string{a.String()}
	} else {
		if len(d.To) == 0 {
			return actions.Request{}, errors.New("email: the destination has no to: recipients; pass --to ADDRESS")
		}
		draft.DefaultTo = true
	}
	body, err := actions.JSON(draft)
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "email", Body: body}, nil
}
