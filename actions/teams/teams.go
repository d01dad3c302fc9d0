// Package teams implements the `teams` action kind: an Adaptive Card
// posted to a Microsoft Teams channel or chat through a Workflows webhook
// (Power Automate's "When a Teams webhook request is received" trigger,
// which replaced Office 365 connectors' incoming webhooks).
//
//	destinations:
//	  sales-channel: {kind: teams, webhook_url: "${TEAMS_WEBHOOK_URL}"}
//	rules:
//	  - ...
//	    actions:
//	      - teams:
//	          destination: sales-channel
//	          title: "New lead: {{ sender.wa_name }}"
//	          text: "{{ text }}"
//	          facts: [{title: Phone, value: "{{ sender.phone }}"}]
//
// The card is built with encoding/json from its parts, never from text,
// and Teams reads TextBlock and FactSet text as Markdown: every value
// taken from the event is escaped for it (see Escape), so a WhatsApp
// message cannot add a link or formatting, while the author's own text is
// Markdown as written.
//
// The webhook URL holds its signature (sig=...): it is a secret, added by
// Wire when the card is posted, never stored, and printed as ***.
package teams

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/switchboard-dev/switchboard/actions"
)

// Card is a rendered `teams:` action: the card's parts.
type Card struct {
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	Facts []Fact `json:"facts,omitempty"`
}

// Fact is one line of the card's FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Destination is a parsed `kind: teams` destination.
type Destination struct {
	// WebhookURL is the Workflows trigger URL, signature included (a
	// secret).
	WebhookURL string
}

// Message is the JSON a Workflows webhook takes: an activity of type
// message whose one attachment is the Adaptive Card.
type Message struct {
	Type        string       `json:"type"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []element `json:"body"`
	MSTeams msteams   `json:"msteams"`
}

type msteams struct {
	Width string `json:"width"`
}

// element is a TextBlock or a FactSet.
type element struct {
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Wrap   bool   `json:"wrap,omitempty"`
	Facts  []Fact `json:"facts,omitempty"`
}

// CardVersion is the Adaptive Card schema version used: what Teams
// renders on desktop, web and mobile.
const CardVersion = "1.4"

// message builds the webhook's JSON for a card.
func (c Card) message() Message {
	card := adaptiveCard{
		Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard",
		Version: CardVersion, MSTeams: msteams{Width: "Full"}, Body: []element{},
	}
	if c.Title != "" {
		card.Body = append(card.Body, element{Type: "TextBlock", Text: c.Title, Weight: "Bolder", Size: "Medium", Wrap: true})
	}
	if c.Text != "" {
		card.Body = append(card.Body, element{Type: "TextBlock", Text: c.Text, Wrap: true})
	}
	if len(c.Facts) > 0 {
		card.Body = append(card.Body, element{Type: "FactSet", Facts: c.Facts})
	}
	return Message{Type: "message", Attachments: []attachment{{ContentType: "application/vnd.microsoft.card.adaptive", Content: card}}}
}

// Escape escapes a value for the Markdown of a card's text: a backslash
// before every character that starts formatting or a link anywhere
// (\ * _ ` ~ [ ] ( ) # | < >) and before a list marker (-, +, or a number
// and a dot) that starts a line, so the value shows as typed.
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case strings.IndexByte("\\*_`~[]()#|<>", c) >= 0:
			b.WriteByte('\\')
		case lineStart && (c == '-' || c == '+'):
			b.WriteByte('\\')
		case lineStart && c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			b.WriteString(s[i:j])
			if j < len(s) && (s[j] == '.' || s[j] == ')') {
				b.WriteByte('\\')
			}
			i = j - 1
			lineStart = false
			continue
		}
		b.WriteByte(c)
		lineStart = c == '\n' || (lineStart && (c == ' ' || c == '\t'))
	}
	return b.String()
}

// renderer renders one compiled `teams:` action.
type renderer struct {
	title, text actions.Template
	facts       []factConfig
}

func (r *renderer) render(env actions.Env) (Card, error) {
	var c Card
	var err error
	if c.Title, err = r.title.Render(env, Escape); err != nil {
		return Card{}, fmt.Errorf("teams: title: %w", err)
	}
	if c.Text, err = r.text.Render(env, Escape); err != nil {
		return Card{}, fmt.Errorf("teams: text: %w", err)
	}
	for i, f := range r.facts {
		var fact Fact
		if fact.Title, err = f.Title.Render(env, Escape); err != nil {
			return Card{}, fmt.Errorf("teams: facts[%d].title: %w", i, err)
		}
		if fact.Value, err = f.Value.Render(env, Escape); err != nil {
			return Card{}, fmt.Errorf("teams: facts[%d].value: %w", i, err)
		}
		c.Facts = append(c.Facts, fact)
	}
	if strings.TrimSpace(c.Title+c.Text) == "" && len(c.Facts) == 0 {
		return Card{}, fmt.Errorf("teams: the card is empty once rendered")
	}
	return c, nil
}

// String describes the destination without its URL.
func (d *Destination) String() string { return "teams workflow webhook <secret>" }

// GoString is String, so that %#v does not print the URL either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
