package webhook

import (
	"errors"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Noticer = Kind{}

// notice is the JSON body of a notice POSTed to an http destination.
type notice struct {
	Switchboard string    `json:"switchboard"`
	Subject     string    `json:"subject"`
	Text        string    `json:"text"`
	Count       int       `json:"count"`
	From        time.Time `json:"from,omitzero"`
	To          time.Time `json:"to,omitzero"`
}

// NoticeRequest is a POST of the notice as JSON ({"switchboard":
// "dead_letters", "subject", "text", "count", "from", "to"}) to the
// destination's URL.
func (Kind) NoticeRequest(dest any, n actions.Notice) (actions.Request, error) {
	if _, ok := dest.(*Destination); !ok {
		return actions.Request{}, errors.New("http: a notice needs a destination")
	}
	body, err := actions.JSON(notice{Switchboard: n.Type, Subject: n.Subject, Text: n.Text, Count: n.Count, From: n.From.UTC(), To: n.To.UTC()})
	if err != nil {
		return actions.Request{}, err
	}
	msg, err := actions.JSON(Message{Method: "POST", Header: map[string]string{"Content-Type": "application/json"}, Body: string(body)})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "http", Body: msg}, nil
}
