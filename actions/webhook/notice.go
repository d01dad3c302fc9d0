package webhook

import (
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

// notice is the JSON body of a notice POSTed to an http destination.
type notice struct {
	Switchboard string    `json:"switchboard"`
	Subject     string    `json:"subject"`
	Text        string    `json:"text"`
	Count       int       `json:"count"`
	From        time.Time `json:"from,omitzero"`
	To          time.Time `json:"to,omitzero"`
}

// noticeMessage is a POST of the notice as JSON ({"switchboard":
// "dead_letters", "subject", "text", "count", "from", "to"}) to the
// destination's URL.
func noticeMessage(_ *Destination, n actions.Notice) (Message, error) {
	body, err := actions.JSON(notice{Switchboard: n.Type, Subject: n.Subject, Text: n.Text, Count: n.Count, From: n.From.UTC(), To: n.To.UTC()})
	if err != nil {
		return Message{}, err
	}
	return Message{Method: "POST", Header: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, nil
}
