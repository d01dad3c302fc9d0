package email

import (
	"errors"

	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Noticer = Kind{}

// NoticeRequest is a plain-text message with the notice's subject to the
// destination's default recipients.
func (Kind) NoticeRequest(dest any, n actions.Notice) (actions.Request, error) {
	d, ok := dest.(*Destination)
	if !ok {
		return actions.Request{}, errors.New("email: a notice needs a destination")
	}
	if len(d.To) == 0 {
		return actions.Request{}, errors.New("email: the destination has no to: recipients to send the notice to")
	}
	body, err := actions.JSON(Draft{Subject: n.Subject, Text: n.Text, DefaultTo: true})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "email", Body: body}, nil
}
