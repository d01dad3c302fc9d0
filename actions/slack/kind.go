package slack

import "github.com/switchboard-dev/switchboard/actions"

// Kind is the `slack` action kind. Its destinations send one message a
// second unless they set `rate:` (what Slack accepts per incoming webhook,
// and per channel with chat.postMessage, before it answers 429). Its test
// message posts the text (escaped like payload text) to the destination's
// webhook, or to --to or the default channel with a token.
var Kind = actions.Define(actions.Spec[*Destination, Post, *actions.HTTPRequest]{
	Name:              "slack",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination:  parseDestination,
	Compile: func(b *actions.Block, _ *Destination) (actions.Renderer, error) {
		r, err := compile(b)
		if err != nil {
			return nil, err
		}
		return r, nil
	},
	Wire:      wire,
	NewSender: newSender,
	Test: func(_ *Destination, o actions.TestOptions) (Post, error) {
		return Post{Message: Message{Text: Escape(o.Text), Channel: o.To}}, nil
	},
	DefaultRate: func(*Destination) actions.Rate { return actions.Rate{PerSecond: 1, Burst: 1} },
	Notice:      notice,
})
