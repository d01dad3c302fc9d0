package slack

import (
	"fmt"
	"strings"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Wire is Kind's Wire with a typed result: dest is a *Destination, or nil
// for an action with an inline webhook_url.
func Wire(dest any, r actions.Request) (*actions.HTTPRequest, error) {
	return actions.WireAs[*actions.HTTPRequest](Kind, dest, r)
}

// wire combines a stored Post with its destination (nil for an action
// with an inline webhook_url) into the *actions.HTTPRequest that is sent:
// a POST of the Message as JSON to the incoming webhook, or to
// chat.postMessage with the bot token and the destination's default
// channel, with the Idempotency-Key header from r.Key. It is pure.
func wire(d *Destination, p Post, r actions.Request) (*actions.HTTPRequest, error) {
	if r.Destination != "" && (d == nil || d.WebhookURL == "" && d.Token == "") {
		return nil, fmt.Errorf("slack: destination %q is not configured", r.Destination)
	}
	w := &actions.HTTPRequest{Method: "POST", Header: map[string]string{"Content-Type": contentType}}
	m := p.Message
	switch {
	case d == nil && p.WebhookURL == "":
		return nil, fmt.Errorf("slack: the request has no webhook_url and no destination")
	case d == nil:
		w.URL = p.WebhookURL
	case p.WebhookURL != "":
		return nil, fmt.Errorf("slack: the request has a webhook_url and destination %q", r.Destination)
	case d.WebhookURL != "":
		w.URL = d.WebhookURL
	default:
		w.URL = strings.TrimSuffix(d.APIURL, "/") + "/chat.postMessage"
		w.Header["Authorization"] = "Bearer " + d.Token
		if m.Channel == "" {
			m.Channel = d.Channel
		}
		if msg := channelProblem(m.Channel); msg != "" {
			return nil, fmt.Errorf("slack: channel: %s", msg)
		}
	}
	if m.Channel != "" && (d == nil || d.Token == "") {
		return nil, fmt.Errorf("slack: a channel needs a destination with a token")
	}
	body, err := actions.JSON(m)
	if err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	w.Body = string(body)
	if err := httpkit.SetIdempotencyKey(w.Header, r.Key); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return w, nil
}
