package teams

import (
	"context"
	"fmt"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// destConfig is a destination as written in the rules file.
type destConfig struct {
	WebhookURL string `yaml:"webhook_url"`
}

// actionConfig is a `teams:` action as written in the rules file.
type actionConfig struct {
	Destination string           `yaml:"destination"`
	Title       actions.Template `yaml:"title"`
	Text        actions.Template `yaml:"text"`
	Facts       []factConfig     `yaml:"facts"`
}

type factConfig struct {
	Title actions.Template `yaml:"title"`
	Value actions.Template `yaml:"value"`
}

// Kind is the `teams` action kind. Its sender posts exactly what Wire
// returns and classifies the answer with actions.CheckHTTP (Workflows
// answers 202 once the flow is started; 429 with Retry-After when
// throttled; 4xx such as a wrong signature or a card the trigger refuses
// are permanent). Its destinations send at most 4 cards a second unless
// they set `rate:`, the webhooks' documented limit. Its test message is a
// card with the text.
var Kind = actions.Define(actions.Spec[*Destination, Card, *actions.HTTPRequest]{
	Name:              "teams",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination: func(b *actions.Block) (*Destination, error) {
		var c destConfig
		if !b.Decode(&c) {
			return nil, b.Err()
		}
		if c.WebhookURL == "" {
			b.Errorf(nil, "webhook_url is required: the URL of a Teams workflow's \"When a Teams webhook request is received\" trigger")
			return nil, b.Err()
		}
		return &Destination{WebhookURL: httpkit.CheckAPIURL(b, b.Field("webhook_url"), "webhook_url", c.WebhookURL)}, b.Err()
	},
	Compile: func(b *actions.Block, d *Destination) (actions.Renderer, error) {
		var c actionConfig
		if !b.Decode(&c) {
			return nil, b.Err()
		}
		if d == nil {
			b.Errorf(nil, "destination is required: the name of a `kind: teams` destination")
			return nil, b.Err()
		}
		if !c.Title.Set() && !c.Text.Set() && len(c.Facts) == 0 {
			b.Errorf(nil, "title, text or facts is required")
		}
		for i, f := range c.Facts {
			if !f.Title.Set() || !f.Value.Set() {
				b.Errorf(b.Item("facts", i), "facts: each fact has a title and a value")
			}
		}
		r := &renderer{title: c.Title, text: c.Text, facts: c.Facts}
		return actions.RenderAs(r.render), b.Err()
	},
	Wire: func(d *Destination, c Card, r actions.Request) (*actions.HTTPRequest, error) {
		if d == nil || d.WebhookURL == "" {
			return nil, fmt.Errorf("teams: destination %q is not configured", r.Destination)
		}
		w, err := httpkit.JSONRequest("POST", d.WebhookURL, c.message(), r.Key, nil)
		if err != nil {
			return nil, fmt.Errorf("teams: %w", err)
		}
		return w, nil
	},
	NewSender: func(d *Destination, o actions.SenderOptions) (actions.Send[*actions.HTTPRequest], error) {
		if d == nil {
			return nil, fmt.Errorf("teams: actions always name a destination")
		}
		api := &httpkit.API{Client: httpkit.NewClient(o)}
		return func(ctx context.Context, w *actions.HTTPRequest, r actions.Request) error {
			_, err := api.Call(ctx, r.Destination, "teams: card to "+httpkit.Where(r.Destination), w, nil, nil)
			return err
		}, nil
	},
	Test: func(_ *Destination, o actions.TestOptions) (Card, error) {
		return Card{Title: "Switchboard test", Text: Escape(o.Text)}, nil
	},
	DefaultRate: func(*Destination) actions.Rate { return actions.Rate{PerSecond: 4, Burst: 4} },
})
