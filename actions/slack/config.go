package slack

import (
	"net"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// DefaultAPIURL is the Slack Web API base URL used with a bot token.
const DefaultAPIURL = "https://slack.com/api"

// Destination is a parsed `kind: slack` destination: an incoming webhook,
// or a bot token that posts with chat.postMessage.
type Destination struct {
	// WebhookURL is an incoming webhook URL (a secret), or "".
	WebhookURL string
	// Token is a bot token (a secret), or "".
	Token string
	// Channel is the default channel of a token destination.
	Channel string
	// APIURL is the Web API base URL of a token destination.
	APIURL string
}

// destConfig is a destination as written in the rules file.
type destConfig struct {
	WebhookURL string `yaml:"webhook_url"`
	Token      string `yaml:"token"`
	Channel    string `yaml:"channel"`
	APIURL     string `yaml:"api_url"`
}

// actionConfig is a `slack:` action as written in the rules file.
type actionConfig struct {
	Destination string           `yaml:"destination"`
	WebhookURL  string           `yaml:"webhook_url"`
	Text        actions.Template `yaml:"text"`
	Blocks      actions.Value    `yaml:"blocks"`
	Channel     actions.Template `yaml:"channel"`
	Unfurl      bool             `yaml:"unfurl"`
}

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{WebhookURL: c.WebhookURL, Token: c.Token, Channel: c.Channel, APIURL: c.APIURL}
	switch {
	case c.WebhookURL != "" && c.Token != "":
		b.Errorf(b.Field("token"), "set webhook_url or token, not both")
	case c.WebhookURL != "":
		checkURL(b, b.Field("webhook_url"), "webhook_url", c.WebhookURL)
		if c.Channel != "" {
			b.Errorf(b.Field("channel"), "channel needs a token: an incoming webhook always posts to its own channel")
		}
		if c.APIURL != "" {
			b.Errorf(b.Field("api_url"), "api_url needs a token: an incoming webhook is posted to webhook_url")
		}
	case c.Token != "":
		if c.Token != strings.TrimSpace(c.Token) || strings.ContainsFunc(c.Token, isSpaceOrControl) {
			// The token is a secret: never print it.
			b.Errorf(b.Field("token"), "token contains a space or control character")
		}
		if d.APIURL == "" {
			d.APIURL = DefaultAPIURL
		} else {
			checkURL(b, b.Field("api_url"), "api_url", c.APIURL)
			d.APIURL = strings.TrimSuffix(c.APIURL, "/")
		}
		if c.Channel != "" {
			checkChannel(b, b.Field("channel"), c.Channel)
		}
	default:
		b.Errorf(nil, "webhook_url or token is required")
	}
	return d, b.Err()
}

func compile(b *actions.Block) (*renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	r := &renderer{text: c.Text, blocks: c.Blocks, channel: c.Channel, unfurl: c.Unfurl}
	defaultChannel := ""
	switch {
	case c.Destination != "" && c.WebhookURL != "":
		b.Errorf(b.Field("webhook_url"), "set destination or webhook_url, not both")
	case c.WebhookURL != "":
		checkURL(b, b.Field("webhook_url"), "webhook_url", c.WebhookURL)
		r.webhookURL = c.WebhookURL
	case c.Destination != "":
		d, ok := b.Dest.(*Destination)
		if !ok || d == nil {
			b.Errorf(b.Field("destination"), "destination %q is not a slack destination", c.Destination)
			return nil, b.Err()
		}
		r.token, defaultChannel = d.Token != "", d.Channel
	default:
		b.Errorf(nil, "destination is required (or an inline webhook_url)")
	}

	if !r.token && c.Channel.Set() {
		b.Errorf(c.Channel.Node, "channel needs a destination with a token: an incoming webhook always posts to its own channel")
	}
	if r.token && !c.Channel.Set() && defaultChannel == "" {
		b.Errorf(nil, "channel is required: set it on the action or on the destination")
	}
	if c.Channel.Set() && c.Channel.Text.Static() {
		checkChannel(b, c.Channel.Node, c.Channel.Text.Source())
	}
	if !c.Blocks.Set() && (!c.Text.Set() || c.Text.Text.Source() == "") {
		b.Errorf(nil, "text is required (or blocks)")
	}
	if c.Blocks.Set() && c.Blocks.Node.Kind != yaml.SequenceNode {
		b.Errorf(c.Blocks.Node, "blocks: expected a list of Block Kit blocks")
	}
	return r, b.Err()
}

// checkURL checks a webhook or API URL: https, or http to a loopback host
// (a local test server).
func checkURL(b *actions.Block, at *yaml.Node, field, s string) {
	// The URL may hold a secret (an incoming webhook's is one): never print it.
	if strings.Contains(s, "{{") {
		b.Errorf(at, "%s cannot be a template", field)
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		b.Errorf(at, "%s is not a valid URL", field)
	case u.Host == "":
		b.Errorf(at, "%s must be an absolute https:// URL", field)
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		b.Errorf(at, "%s must start with https:// (http:// is allowed only for localhost)", field)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkChannel checks a channel name or ID as written in the rules file.
func checkChannel(b *actions.Block, at *yaml.Node, s string) {
	if msg := channelProblem(s); msg != "" {
		b.Errorf(at, "channel: %s", msg)
	}
}

// channelProblem says what is wrong with a channel name or ID, or "".
// Slack channel names are at most 80 characters without spaces; IDs are
// shorter.
func channelProblem(s string) string {
	name := strings.TrimPrefix(s, "#")
	switch {
	case name == "":
		return "empty channel"
	case utf8.RuneCountInString(name) > 80:
		return "longer than 80 characters"
	case strings.ContainsFunc(name, isSpaceOrControl) || strings.ContainsAny(name, "<>&,#@|"):
		return "not a channel name or ID such as #support or C0123456789"
	}
	return ""
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || r == utf8.RuneError || r == '\u2028' || r == '\u2029' || r == '\u00a0'
}
