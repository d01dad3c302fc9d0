// Package email implements the `email` action kind: one message sent
// through an SMTP server named by a destination.
//
//	destinations:
//	  mail: {kind: email, smtp: "smtp.example.com:587", username: bot, password: "${SMTP_PASSWORD}", from: "Switchboard <bot@example.com>"}
//	rules:
//	  - ...
//	    actions:
//	      - email: {destination: mail, to: ["sales@example.com"], subject: "File from {{ chat_title }}", text: "{{ text }}"}
//
// No value taken from the event can add a header or a recipient, or make
// a message no server takes: every rendered address must parse as exactly
// one address (net/mail; a display name such as "Smith, John" is quoted),
// line breaks in the subject and in display names become spaces, both are
// bounded in length, and the sender writes them as RFC 2047 encoded words
// folded per RFC 5322 (encoded words in payload text are encoded in turn,
// not decoded). Event values in the html body are escaped with
// html/template semantics, by their place (see html.go); the text body is
// sent as rendered.
//
// A rendered request (a Draft) holds nothing of its destination; Wire adds
// the server and the default from and to, giving the Message that dry-run
// prints and the sender sends. Only the sender sees the login.
package email

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"

	"github.com/switchboard-dev/switchboard/actions"
)

// Draft is a rendered email, the Body of an email Request: what the action
// and the event give, and nothing of the destination (server, login,
// default from and to), which Wire adds when the message is sent.
// Addresses parse with mail.ParseAddress ("a@example.com" or
// "Name <a@example.com>").
type Draft struct {
	// From is "" when the destination's from applies.
	From string   `json:"from,omitempty"`
	To   []string `json:"to,omitempty"`
	// DefaultTo reports an action without `to:`: the destination's to
	// recipients are added.
	DefaultTo bool     `json:"default_to,omitempty"`
	Cc        []string `json:"cc,omitempty"`
	Bcc       []string `json:"bcc,omitempty"`
	ReplyTo   string   `json:"reply_to,omitempty"`
	// Subject is one line: it holds no control character.
	Subject string `json:"subject"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
}

// renderer renders one compiled `email:` action.
type renderer struct {
	from        actions.Template
	to, cc, bcc []actions.Template
	replyTo     actions.Template
	// defaultTo reports an action without `to:` on a destination with
	// recipients.
	defaultTo           bool
	subject, text, html actions.Template
	// htmlT caches html's compiled skeletons (see html.go).
	htmlT htmlTemplates
}

// Render renders the Draft for one event.
func (r *renderer) Render(env actions.Env) (actions.Request, error) {
	m := Draft{DefaultTo: r.to == nil}
	var err error
	if r.from.Set() {
		if m.From, err = renderAddress(env, "from", r.from); err != nil {
			return actions.Request{}, err
		}
		if m.From == "" {
			return actions.Request{}, errors.New("email: from is empty once rendered")
		}
	}
	if m.To, err = renderAddresses(env, "to", r.to); err != nil {
		return actions.Request{}, err
	}
	if m.Cc, err = renderAddresses(env, "cc", r.cc); err != nil {
		return actions.Request{}, err
	}
	if m.Bcc, err = renderAddresses(env, "bcc", r.bcc); err != nil {
		return actions.Request{}, err
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 && !r.defaultTo {
		return actions.Request{}, errors.New("email: every recipient is empty once rendered")
	}
	if m.ReplyTo, err = renderAddress(env, "reply_to", r.replyTo); err != nil {
		return actions.Request{}, err
	}
	subject, err := r.subject.Render(env, nil)
	if err != nil {
		return actions.Request{}, fmt.Errorf("email: subject: %w", err)
	}
	m.Subject = capText(headerText(subject), MaxSubject)
	text, err := r.text.Render(env, nil)
	if err != nil {
		return actions.Request{}, fmt.Errorf("email: text: %w", err)
	}
	m.Text = strings.ToValidUTF8(text, "\uFFFD")
	if m.HTML, err = r.htmlT.render(env, r.html); err != nil {
		return actions.Request{}, fmt.Errorf("email: html: %w", err)
	}
	data, err := actions.JSON(m)
	if err != nil {
		return actions.Request{}, fmt.Errorf("email: %w", err)
	}
	return actions.Request{Body: data}, nil
}

// renderAddresses renders a list of addresses, leaving out those that
// render empty (a field missing from the payload).
func renderAddresses(env actions.Env, field string, ts []actions.Template) ([]string, error) {
	var out []string
	for _, t := range ts {
		a, err := renderAddress(env, field, t)
		if err != nil {
			return nil, err
		}
		if a != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// renderAddress renders one address; "" if it renders empty. Line breaks
// in event values become spaces, and the result must parse as exactly one
// address.
func renderAddress(env actions.Env, field string, t actions.Template) (string, error) {
	s, err := t.Render(env, addressValue)
	if err != nil {
		return "", fmt.Errorf("email: %s: %w", field, err)
	}
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	a, err := parseAddress(s)
	if err != nil {
		return "", fmt.Errorf("email: %s: %w", field, err)
	}
	return a, nil
}

// headerText makes s safe for one header line: invalid UTF-8 becomes
// U+FFFD and every control character (CR and LF included) a space.
func headerText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

var errEmpty = errors.New("empty address")

// addressError is an address that does not parse; it quotes the start of
// the address.
type addressError struct {
	s, why string
}

func (e *addressError) Error() string {
	s := e.s
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "") + "..."
	}
	return fmt.Sprintf("%q %s", s, e.why)
}

// String describes the destination without its password.
func (d *Destination) String() string {
	if d == nil {
		return "email destination"
	}
	s := fmt.Sprintf("email smtp %s (%s)", d.Addr, d.TLS)
	if d.Username != "" {
		s += " with username and password <secret>"
	}
	return s
}

// GoString is String, so that %#v does not print the password either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no password.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
