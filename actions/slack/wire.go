package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/webhook"
)

// Wire combines a stored Post with its destination (a *Destination, or nil
// for an action with an inline webhook_url) into the *actions.HTTPRequest
// that is sent: a POST of the Message as JSON to the incoming webhook, or
// to chat.postMessage with the bot token and the destination's default
// channel, with the Idempotency-Key header from r.Key. It is pure.
func (Kind) Wire(dest any, r actions.Request) (any, error) {
	return Wire(dest, r)
}

// Wire is Kind.Wire with a typed result.
func Wire(dest any, r actions.Request) (*actions.HTTPRequest, error) {
	d, err := destination(dest, r.Destination)
	if err != nil {
		return nil, err
	}
	// Numbers in blocks stay as written (json.Number), not float64.
	var p Post
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("slack: decoding request: %w", err)
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
	if err := webhook.SetIdempotencyKey(w.Header, r.Key); err != nil {
		return nil, fmt.Errorf("slack: %w", err)
	}
	return w, nil
}

// destination checks the destination Wire is given.
func destination(dest any, name string) (*Destination, error) {
	switch d := dest.(type) {
	case nil:
	case *Destination:
		if d != nil && (d.WebhookURL != "" || d.Token != "") {
			return d, nil
		}
	default:
		return nil, fmt.Errorf("slack: destination %q is a %T, not a slack destination", name, dest)
	}
	if name != "" {
		return nil, fmt.Errorf("slack: destination %q is not configured", name)
	}
	return nil, nil
}

// Format prints the wire form (an *actions.HTTPRequest) as an HTTP
// message.
func (Kind) Format(wire any) (string, error) {
	return webhook.FormatHTTP(wire)
}
