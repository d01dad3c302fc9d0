package webhook

import (
	"context"
	"fmt"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Kind is the `http` action kind. Its sender sends exactly what Wire
// returns, once per call, and classifies the answer with
// actions.CheckHTTP: 2xx is success, 429 (and 503 with Retry-After) a
// RetryAfter, 408 and 5xx a retryable StatusError, any other status,
// redirects included (never followed), a permanent one. A request that got
// no answer is retried. Its test message is a POST of {"switchboard":
// "test", "message": text} to the destination's URL.
var Kind = actions.Define(actions.Spec[*Destination, Message, *actions.HTTPRequest]{
	Name:              "http",
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
	Wire: wire,
	NewSender: func(_ *Destination, o actions.SenderOptions) (actions.Send[*actions.HTTPRequest], error) {
		client := httpkit.NewClient(o)
		return func(ctx context.Context, w *actions.HTTPRequest, r actions.Request) error {
			resp, err := client.Do(ctx, r.Destination, w)
			if err != nil {
				return err
			}
			if err := client.Check(w, resp); err != nil {
				return fmt.Errorf("%s to %s: %w", w.Method, httpkit.Target(r.Destination, w), err)
			}
			return nil
		}, nil
	},
	Test: func(_ *Destination, o actions.TestOptions) (Message, error) {
		body, err := actions.JSON(map[string]string{"switchboard": "test", "message": o.Text})
		return Message{Method: "POST", Header: map[string]string{"Content-Type": "application/json"}, Body: string(body)}, err
	},
	Notice: noticeMessage,
})
