package email

import (
	"net"
	"net/mail"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// TLS modes of a destination.
const (
	// StartTLS connects in plain text and upgrades with STARTTLS, which
	// must succeed (the default; port 587).
	StartTLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS = "tls"
	// NoTLS never encrypts (port 25); with a password it is allowed only
	// to a loopback host.
	NoTLS = "none"
)

// defaultPorts are the ports used with `host` when `port` is not set.
var defaultPorts = map[string]int{StartTLS: 587, ImplicitTLS: 465, NoTLS: 25}

// Destination is a parsed `kind: email` destination: an SMTP server, its
// credentials and the defaults of the messages sent through it. None of it
// is stored with a rendered request: Wire adds the server and defaults when
// the message is sent, and only the sender sees the credentials.
type Destination struct {
	// Addr is the server as host:port.
	Addr string
	// TLS is StartTLS, ImplicitTLS or NoTLS.
	TLS string
	// Username and Password authenticate (both empty: no authentication).
	// They are never put in a rendered request.
	Username string
	Password string
	// From is the default sender, To the default recipients, as
	// mail.Address strings.
	From string
	To   []string
}

// destConfig is a destination as written in the rules file.
type destConfig struct {
	SMTP     string   `yaml:"smtp"`
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"`
	Username string   `yaml:"username"`
	Password string   `yaml:"password"`
	From     string   `yaml:"from"`
	TLS      string   `yaml:"tls"`
	To       []string `yaml:"to"`
}

// actionConfig is an `email:` action as written in the rules file.
type actionConfig struct {
	Destination string             `yaml:"destination"`
	From        actions.Template   `yaml:"from"`
	To          []actions.Template `yaml:"to"`
	Cc          []actions.Template `yaml:"cc"`
	Bcc         []actions.Template `yaml:"bcc"`
	ReplyTo     actions.Template   `yaml:"reply_to"`
	Subject     actions.Template   `yaml:"subject"`
	Text        actions.Template   `yaml:"text"`
	HTML        actions.Template   `yaml:"html"`
}

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{TLS: c.TLS, Username: c.Username, Password: c.Password}
	if d.TLS == "" {
		d.TLS = StartTLS
	}
	if _, ok := defaultPorts[d.TLS]; !ok {
		b.Errorf(b.Field("tls"), "tls: %q is not one of starttls, tls, none", c.TLS)
	}

	host := c.Host
	switch {
	case c.SMTP != "" && (c.Host != "" || c.Port != 0):
		b.Errorf(b.Field("smtp"), "set smtp (host:port) or host and port, not both")
	case c.SMTP != "":
		h, p, err := net.SplitHostPort(c.SMTP)
		port, perr := strconv.Atoi(p)
		if err != nil || h == "" || perr != nil || port < 1 || port > 65535 {
			b.Errorf(b.Field("smtp"), "smtp: expected host:port such as smtp.example.com:587, got %q", c.SMTP)
		} else {
			host, d.Addr = h, net.JoinHostPort(h, p)
		}
	case c.Host != "":
		port := c.Port
		if port == 0 {
			port = defaultPorts[d.TLS]
		}
		if port < 1 || port > 65535 {
			b.Errorf(b.Field("port"), "port: %d is not a TCP port", c.Port)
		}
		if strings.ContainsAny(c.Host, "/ ") || strings.Contains(c.Host, ":") && net.ParseIP(c.Host) == nil {
			b.Errorf(b.Field("host"), "host: expected a host name such as smtp.example.com, got %q", c.Host)
		}
		d.Addr = net.JoinHostPort(c.Host, strconv.Itoa(port))
	default:
		b.Errorf(nil, "smtp (host:port) is required")
	}

	switch {
	case (c.Username == "") != (c.Password == ""):
		b.Errorf(nil, "username and password go together: set both or neither")
	case c.Password != "" && d.TLS == NoTLS && host != "" && !isLoopback(host):
		b.Errorf(b.Field("tls"), "tls: none would send the password in clear text to %s; use starttls or tls", host)
	}
	if c.From != "" {
		d.From = checkAddress(b, b.Field("from"), "from", c.From)
	}
	for i, s := range c.To {
		d.To = append(d.To, checkAddress(b, itemNode(b.Field("to"), i), "to", s))
	}
	return d, b.Err()
}

func compile(b *actions.Block) (*renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d, ok := b.Dest.(*Destination)
	switch {
	case c.Destination == "":
		b.Errorf(nil, "destination is required: the name of a `kind: email` destination")
		return nil, b.Err()
	case !ok || d == nil:
		b.Errorf(b.Field("destination"), "destination %q is not an email destination", c.Destination)
		return nil, b.Err()
	}
	// The destination's from and to are not copied: Wire adds them.
	r := &renderer{
		from: c.From, to: c.To, cc: c.Cc, bcc: c.Bcc, replyTo: c.ReplyTo,
		subject: c.Subject, text: c.Text, html: c.HTML,
		defaultTo: c.To == nil && len(d.To) > 0,
	}
	if !c.From.Set() && d.From == "" {
		b.Errorf(nil, "from is required: set it on the action or on the destination")
	}
	recipients := len(c.To) + len(c.Cc) + len(c.Bcc)
	if c.To == nil {
		recipients += len(d.To)
	}
	if recipients == 0 {
		b.Errorf(nil, "no recipient: set to, cc or bcc (or to on the destination)")
	}
	for _, t := range allAddresses(&c) {
		if t.t.Set() && t.t.Text.Static() {
			checkAddress(b, t.t.Node, t.field, t.t.Text.Source())
		}
	}
	if !c.Subject.Set() || c.Subject.Text.Source() == "" {
		b.Errorf(nil, "subject is required")
	}
	if !c.Text.Set() && !c.HTML.Set() {
		b.Errorf(nil, "text or html is required")
	}
	return r, b.Err()
}

type namedTemplate struct {
	field string
	t     actions.Template
}

// allAddresses lists the address fields of an action.
func allAddresses(c *actionConfig) []namedTemplate {
	out := []namedTemplate{{"from", c.From}, {"reply_to", c.ReplyTo}}
	for _, l := range []struct {
		field string
		ts    []actions.Template
	}{{"to", c.To}, {"cc", c.Cc}, {"bcc", c.Bcc}} {
		for _, t := range l.ts {
			out = append(out, namedTemplate{l.field, t})
		}
	}
	return out
}

// checkAddress parses an address written in the rules file and returns it
// in canonical form.
func checkAddress(b *actions.Block, at *yaml.Node, field, s string) string {
	a, err := parseAddress(s)
	if err != nil {
		b.Errorf(at, "%s: %v", field, err)
		return ""
	}
	return a
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// itemNode returns the i-th item of sequence n, for error positions.
func itemNode(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return n
	}
	return n.Content[i]
}

// parseAddress parses one address ("Name <a@example.com>" or
// "a@example.com") and returns it in canonical form (mail.Address.String,
// or the bare address without a display name), or an error that quotes at
// most the first 80 bytes of s.
func parseAddress(s string) (string, error) {
	switch {
	case strings.TrimSpace(s) == "":
		return "", errEmpty
	case strings.ContainsAny(s, "\r\n"):
		return "", &addressError{s: s, why: "contains a line break"}
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		if a, err = parseNamed(s); err != nil {
			return "", &addressError{s: s, why: "is not one email address"}
		}
	}
	if a.Name = safeName(a.Name); a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}
