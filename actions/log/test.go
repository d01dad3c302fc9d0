package log

import (
	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Tester = Kind{}

// TestRequest is one info line.
func (Kind) TestRequest(_ any, o actions.TestOptions) (actions.Request, error) {
	body, err := actions.JSON(Entry{Level: "info", Message: o.Text})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "log", Body: body}, nil
}
