package slack

import (
	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Tester = Kind{}

// TestRequest posts text (escaped like payload text) to the destination's
// webhook, or to o.To or its default channel with a token.
func (Kind) TestRequest(_ any, o actions.TestOptions) (actions.Request, error) {
	body, err := actions.JSON(Post{Message: Message{Text: Escape(o.Text), Channel: o.To}})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "slack", Body: body}, nil
}
