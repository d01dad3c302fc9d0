package log

import "github.com/switchboard-dev/switchboard/actions"

// Kind is the `log` action kind. Its test message is one info line.
var Kind = actions.Define(actions.Spec[*Destination, Entry, *Entry]{
	Name:              "log",
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
	Format:    format,
	Test: func(_ *Destination, o actions.TestOptions) (Entry, error) {
		return Entry{Level: "info", Message: o.Text}, nil
	},
})
