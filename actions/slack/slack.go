// Package slack implements the `slack` action kind: a message posted to an
// incoming webhook, or with a bot token through chat.postMessage.
//
//	destinations:
//	  team: {kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}
//	  bot:  {kind: slack, token: "${SLACK_BOT_TOKEN}", channel: "#support"}
//	rules:
//	  - ...
//	    actions:
//	      - slack: {destination: team, text: "{{ sender.wa_name }}: {{ text }}"}
//
// Slack reads &, < and > as control characters: `<!channel>` notifies a
// whole channel and `<https://evil|click>` hides a link. Every value taken
// from the event is therefore escaped (see Escape), in text and in blocks,
// while the text the rules' author wrote is sent as is, so an author may
// still write `<!here>` on purpose. Link previews are off unless the action
// sets `unfurl: true`, and the message never asks Slack to parse names
// (no link_names, no parse).
//
// A rendered request (a Post) holds the message only: the webhook URL, the
// token and the default channel of the destination are added by Wire when
// the message is sent, so the delivery queue never stores a secret.
package slack

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/switchboard-dev/switchboard/actions"
)

// Message is the JSON body posted to Slack, for an incoming webhook and
// for chat.postMessage alike.
type Message struct {
	Text    string `json:"text,omitempty"`
	Blocks  any    `json:"blocks,omitempty"`
	Channel string `json:"channel,omitempty"`
	// UnfurlLinks and UnfurlMedia are always sent, false unless the action
	// sets `unfurl: true`, so that Slack fetches no link from a payload.
	UnfurlLinks bool `json:"unfurl_links"`
	UnfurlMedia bool `json:"unfurl_media"`
}

// Post is a rendered `slack:` action, the Body of its actions.Request. It
// holds nothing of the destination (webhook URL, token, default channel):
// Wire adds that when the message is sent.
type Post struct {
	// WebhookURL is the inline webhook_url of an action without
	// destination; "" otherwise.
	WebhookURL string `json:"webhook_url,omitempty"`
	// Message is the body; its Channel is "" when the destination's
	// default channel applies.
	Message Message `json:"message"`
}

// contentType is the type Slack asks for with JSON bodies.
const contentType = "application/json; charset=utf-8"

// renderer renders one compiled `slack:` action.
type renderer struct {
	// webhookURL is the action's inline webhook URL, or "".
	webhookURL string
	// token reports a chat.postMessage destination (channels apply).
	token   bool
	text    actions.Template
	blocks  actions.Value
	channel actions.Template
	unfurl  bool
}

// Render renders the Post for one event.
func (r *renderer) Render(env actions.Env) (actions.Request, error) {
	p := Post{WebhookURL: r.webhookURL, Message: Message{UnfurlLinks: r.unfurl, UnfurlMedia: r.unfurl}}
	m := &p.Message
	var err error
	if m.Text, err = r.text.Render(env, mark); err != nil {
		return actions.Request{}, fmt.Errorf("slack: text: %w", err)
	}
	m.Text = unmark(m.Text)
	if r.blocks.Set() {
		if m.Blocks, err = r.blocks.Render(env, mark); err != nil {
			return actions.Request{}, fmt.Errorf("slack: blocks: %w", err)
		}
		m.Blocks = unmarkTree(m.Blocks)
	} else if strings.TrimSpace(m.Text) == "" {
		return actions.Request{}, fmt.Errorf("slack: text is empty once rendered")
	}
	if r.token && r.channel.Set() {
		if m.Channel, err = r.channel.Render(env, nil); err != nil {
			return actions.Request{}, fmt.Errorf("slack: channel: %w", err)
		}
		if msg := channelProblem(m.Channel); msg != "" {
			return actions.Request{}, fmt.Errorf("slack: channel: %s", msg)
		}
	}
	data, err := actions.JSON(p)
	if err != nil {
		return actions.Request{}, fmt.Errorf("slack: %w", err)
	}
	return actions.Request{Body: data}, nil
}

// escaper replaces Slack's three control characters in one pass, so each
// is escaped exactly once.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Escape escapes a value for Slack message text: & becomes &amp;, < &lt;
// and > &gt;, so that `<!channel>`, `<@U024BE7LH>` or `<https://x|y>`
// taken from a WhatsApp message shows as typed and notifies nobody.
func Escape(s string) string { return escaper.Replace(s) }

// String describes the destination without its secrets.
func (d *Destination) String() string {
	switch {
	case d == nil:
		return "slack destination"
	case d.Token != "":
		s := "slack token <secret> via " + d.APIURL
		if d.Channel != "" {
			s += " to " + d.Channel
		}
		return s
	}
	return "slack webhook <secret>"
}

// GoString is String, so that %#v does not print secrets either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
