package slack

import (
	"github.com/switchboard-dev/switchboard/actions"
)

var _ actions.Noticer = Kind{}

// NoticeRequest posts the notice's subject in bold and its text (both
// escaped like payload text) to the destination's webhook or default
// channel.
func (Kind) NoticeRequest(_ any, n actions.Notice) (actions.Request, error) {
	body, err := actions.JSON(Post{Message: Message{Text: "*" + Escape(n.Subject) + "*\n" + Escape(n.Text)}})
	if err != nil {
		return actions.Request{}, err
	}
	return actions.Request{Kind: "slack", Body: body}, nil
}
