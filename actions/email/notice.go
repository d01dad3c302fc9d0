package email

import (
	"errors"

	"github.com/switchboard-dev/switchboard/actions"
)

// notice is a plain-text message with the notice's subject to the
// destination's default recipients.
func notice(d *Destination, n actions.Notice) (Draft, error) {
	if len(d.To) == 0 {
		return Draft{}, errors.New("email: the destination has no to: recipients to send the notice to")
	}
	return Draft{Subject: n.Subject, Text: n.Text, DefaultTo: true}, nil
}
