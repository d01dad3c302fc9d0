package slack

import (
	"github.com/switchboard-dev/switchboard/actions"
)

// notice posts the notice's subject in bold and its text (both escaped
// like payload text) to the destination's webhook or default channel.
func notice(_ *Destination, n actions.Notice) (Post, error) {
	return Post{Message: Message{Text: "*" + Escape(n.Subject) + "*\n" + Escape(n.Text)}}, nil
}
