package email

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/switchboard-dev/switchboard/actions"
)

// Message is the wire form of an email: the Draft completed with its
// destination's server and defaults. It holds no credentials: only the
// sender sees them. Bcc is for the envelope only and is never written as a
// header.
type Message struct {
	// SMTP is the server, host:port.
	SMTP    string   `json:"smtp"`
	From    string   `json:"from"`
	To      []string `json:"to,omitempty"`
	Cc      []string `json:"cc,omitempty"`
	Bcc     []string `json:"bcc,omitempty"`
	ReplyTo string   `json:"reply_to,omitempty"`
	// Subject is one line: it holds no control character.
	Subject string `json:"subject"`
	Text    string `json:"text,omitempty"`
	HTML    string `json:"html,omitempty"`
	// MessageID is the Message-ID (without <>), derived from the
	// request's idempotency key so that a message sent twice carries the
	// same one; "" lets the sender pick one.
	MessageID string `json:"message_id,omitempty"`
}

// Wire is Kind's Wire with a typed result (dest is a *Destination).
func Wire(dest any, r actions.Request) (*Message, error) {
	return actions.WireAs[*Message](Kind, dest, r)
}

// wire combines a stored Draft with its destination into the *Message
// that is sent. It is pure.
func wire(d *Destination, dr Draft, r actions.Request) (*Message, error) {
	switch {
	case d == nil && r.Destination == "":
		return nil, errors.New("email: the message names no destination")
	case d == nil || d.Addr == "":
		return nil, fmt.Errorf("email: destination %q is not configured", r.Destination)
	}
	m := &Message{
		SMTP: d.Addr, From: dr.From, To: dr.To, Cc: dr.Cc, Bcc: dr.Bcc, ReplyTo: dr.ReplyTo,
		Subject: headerText(dr.Subject), Text: dr.Text, HTML: dr.HTML,
	}
	if m.From == "" {
		m.From = d.From
	}
	if dr.DefaultTo {
		m.To = append(append([]string(nil), d.To...), m.To...)
	}
	if m.From == "" {
		return nil, errors.New("email: the message has no from address")
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return nil, errors.New("email: the message has no recipient")
	}
	if r.Key != "" {
		m.MessageID = messageID(r.Key, m.From)
	}
	return m, nil
}

// messageID derives a Message-ID from an idempotency key: a hash of the
// key (which may hold any character) at the sender's domain.
func messageID(key, from string) string {
	sum := sha256.Sum256([]byte(key))
	domain := "switchboard.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" && !strings.ContainsAny(d, "<>[] ") {
			domain = d
		}
	}
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// Format prints the wire form (a *Message) as an RFC 5322-like preview:
// the headers, a blank line, the text body, then the html body.
func format(m *Message) (string, error) {
	if m == nil {
		return "", errors.New("email: no message")
	}
	var b strings.Builder
	header := func(name string, addrs ...string) {
		var shown []string
		for _, a := range addrs {
			if a != "" {
				shown = append(shown, display(a))
			}
		}
		if len(shown) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", name, strings.Join(shown, ", "))
		}
	}
	header("From", m.From)
	header("To", m.To...)
	header("Cc", m.Cc...)
	header("Bcc", m.Bcc...)
	header("Reply-To", m.ReplyTo)
	if m.MessageID != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\n", m.MessageID)
	}
	fmt.Fprintf(&b, "Subject: %s\n\n", headerText(m.Subject))
	switch {
	case m.Text != "" && m.HTML != "":
		fmt.Fprintf(&b, "%s\n--- html ---\n%s\n", m.Text, m.HTML)
	case m.HTML != "":
		fmt.Fprintf(&b, "%s\n", m.HTML)
	default:
		fmt.Fprintf(&b, "%s\n", m.Text)
	}
	return b.String(), nil
}

// display shows an address as people write it, with its display name
// decoded.
func display(s string) string {
	a, err := mail.ParseAddress(s)
	switch {
	case err != nil:
		return headerText(s)
	case a.Name == "":
		return a.Address
	}
	return headerText(a.Name) + " <" + a.Address + ">"
}
