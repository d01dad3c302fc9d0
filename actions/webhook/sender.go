package webhook

import (
	"context"
	"fmt"

	"github.com/switchboard-dev/switchboard/actions"
)

// NewSender builds the sender of one destination (a *Destination, or nil
// for actions with a full URL). It sends exactly what Wire returns, once
// per call, and classifies the answer with actions.CheckHTTP: 2xx is
// success, 429 (and 503 with Retry-After) a RetryAfter, 408 and 5xx a
// retryable StatusError, any other status, redirects included (never
// followed), a permanent one. A request that got no answer is retried.
func (Kind) NewSender(dest any, o actions.SenderOptions) (actions.Sender, error) {
	if _, err := destination(dest, ""); err != nil {
		return nil, err
	}
	return &sender{dest: dest, client: NewClient(o)}, nil
}

// sender is the live sender of one destination.
type sender struct {
	dest   any
	client *Client
}

// Send performs r.
func (s *sender) Send(ctx context.Context, r actions.Request) error {
	w, err := Wire(s.dest, r)
	if err != nil {
		// A stored request that does not fit its destination stays so.
		return actions.Permanent(err)
	}
	resp, err := s.client.Do(ctx, r.Destination, w)
	if err != nil {
		return err
	}
	if err := s.client.Check(w, resp); err != nil {
		return fmt.Errorf("%s to %s: %w", w.Method, target(r.Destination, w), err)
	}
	return nil
}
