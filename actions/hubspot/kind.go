package hubspot

import "github.com/switchboard-dev/switchboard/actions"

// Kind is the `hubspot` action kind. Its test message reads one contact,
// which checks the token and its crm.objects.contacts.read scope without
// changing anything.
var Kind = actions.Define(actions.Spec[*Destination, Op, *Plan]{
	Name:              "hubspot",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination:  parseDestination,
	Compile:           compile,
	Wire:              wire,
	NewSender:         newSender,
	Format:            format,
	Test:              func(*Destination, actions.TestOptions) (Op, error) { return Op{Do: testOp}, nil },
	DefaultRate:       func(*Destination) actions.Rate { return actions.Rate{PerSecond: 2, Burst: 2} },
})
