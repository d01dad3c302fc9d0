package webhook

import (
	"fmt"

	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Tester = Kind{}

// TestRequest is a POST of {"switchboard": "test", "message": text} to the
// destination's URL.
func (Kind) TestRequest(dest any, o actions.TestOptions) (actions.Request, error) {
	if _, ok := dest.(*Destination); !ok {
		return actions.Request{}, fmt.Errorf("http: a test needs a destination")
	}
	body, err := actions.JSON(map[string]string{"switchboard": "test", "message": o.Text})
	if err != nil {
		return actions.Request{}, err
	}
	msg, err := actions.JSON(Message{Method: "POST", Header: map[string]string{"Content-Type": "application/json"}, Body: string(body)})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "http", Body: msg}, nil
}
