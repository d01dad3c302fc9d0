package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/switchboard-dev/switchboard/actions/egress"

	mail "github.com/wneessen/go-mail"

	"github.com/switchboard-dev/switchboard/actions"
)

// DefaultTimeout bounds one attempt when SenderOptions sets none.
const DefaultTimeout = 30 * time.Second

// newSender builds the sender of one email destination. Each Send dials
// the server, sends exactly what Wire returns and quits, all within the
// attempt's timeout and ctx. tls: starttls requires STARTTLS, tls speaks
// TLS from the first byte, none never encrypts; a destination with a
// username logs in with PLAIN or LOGIN, whichever the server offers. An
// SMTP 5xx answer is permanent; 4xx answers and connection failures are
// retried.
func newSender(d *Destination, o actions.SenderOptions) (actions.Send[*Message], error) {
	if d == nil || d.Addr == "" {
		return nil, errors.New("email: actions always name a destination")
	}
	host, p, err := net.SplitHostPort(d.Addr)
	port, perr := strconv.Atoi(p)
	if err != nil || perr != nil || host == "" || strings.Contains(host, "/") {
		return nil, fmt.Errorf("email: smtp %q is not host:port", d.Addr)
	}
	s := &sender{d: d, host: host, port: port, timeout: o.Timeout, agent: o.UserAgent, log: o.Logger, egress: o.Egress}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.agent == "" {
		s.agent = "switchboard"
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s.send, nil
}

// sender is the live sender of one destination. It holds the credentials;
// its errors and logs never show them.
type sender struct {
	d       *Destination
	host    string
	port    int
	timeout time.Duration
	agent   string
	log     *slog.Logger
	egress  *egress.Guard
}

// send sends m, the wire form of r.
func (s *sender) send(ctx context.Context, m *Message, r actions.Request) error {
	msg, err := s.build(m)
	if err != nil {
		return actions.Permanent(fmt.Errorf("email: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	// go-mail bounds the dial by ctx, and each command by its timeout; the
	// connection is also closed when ctx ends, so that a cancelled
	// attempt does not wait for the server.
	var stop func() bool
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		nd := s.egress.Dialer(net.Dialer{})
		var conn net.Conn
		var err error
		if s.d.TLS == ImplicitTLS {
			td := &tls.Dialer{NetDialer: nd, Config: &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}}
			conn, err = td.DialContext(dctx, network, addr)
		} else {
			conn, err = nd.DialContext(dctx, network, addr)
		}
		if err == nil {
			stop = context.AfterFunc(ctx, func() { conn.Close() })
		}
		return conn, err
	}
	opts := []mail.Option{
		mail.WithPort(s.port),
		mail.WithTimeout(s.timeout),
		mail.WithDialContextFunc(dial),
	}
	switch s.d.TLS {
	case ImplicitTLS:
		opts = append(opts, mail.WithSSL())
	case NoTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.d.Username != "" {
		opts = append(opts, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin),
			mail.WithUsername(s.d.Username), mail.WithPassword(s.d.Password))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return actions.Permanent(fmt.Errorf("email: %w", err))
	}
	start := time.Now()
	err = c.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	if err != nil {
		return s.classify(ctx, r.Destination, err)
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "email sent", slog.String("destination", r.Destination),
		slog.Int("recipients", len(m.To)+len(m.Cc)+len(m.Bcc)), slog.Duration("duration", time.Since(start)))
	return nil
}

// build turns the wire form into a go-mail message. A subject that is not
// plain short ASCII is written as folded encoded words (see headers.go);
// go-mail encodes display names (RFC 2047), folds at spaces and refuses an
// address that is not exactly one address, so no value can add a header.
func (s *sender) build(m *Message) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	for _, l := range []struct {
		set   func(...string) error
		addrs []string
		field string
	}{{msg.To, m.To, "to"}, {msg.Cc, m.Cc, "cc"}, {msg.Bcc, m.Bcc, "bcc"}} {
		if len(l.addrs) == 0 {
			continue
		}
		if err := l.set(l.addrs...); err != nil {
			return nil, fmt.Errorf("%s: %w", l.field, err)
		}
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("reply_to: %w", err)
		}
	}
	if subject := capText(headerText(m.Subject), MaxSubject); plainHeader(subject) {
		msg.Subject(subject)
	} else {
		msg.SetGenHeaderPreformatted(mail.HeaderSubject, encodeHeader(subject))
	}
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(m.MessageID)
	}
	msg.SetDate()
	msg.SetUserAgent(s.agent)
	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	case m.HTML != "":
		msg.SetBodyString(mail.TypeTextHTML, m.HTML)
	default:
		msg.SetBodyString(mail.TypeTextPlain, m.Text)
	}
	return msg, nil
}

// classify sorts a failed attempt: an SMTP 5xx answer is permanent; a 4xx
// answer, a connection failure, a timeout and a cancellation are retried.
// The text names the destination, never the login.
func (s *sender) classify(ctx context.Context, name string, err error) error {
	where := fmt.Sprintf("email to destination %q", name)
	if name == "" {
		where = "email to " + s.d.Addr
	}
	var (
		netErr  net.Error
		refused *egress.RefusedError
	)
	switch {
	case errors.As(err, &refused):
		return actions.Permanent(fmt.Errorf("%s: %w", where, refused))
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Errorf("%s: timeout", where)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: canceled", where)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused", where)
	}
	code := smtpCode(err)
	text := err.Error()
	if s.d.Password != "" {
		// go-mail never prints it; this keeps it so.
		text = strings.ReplaceAll(text, s.d.Password, "***")
	}
	e := fmt.Errorf("%s: %s", where, text)
	if code >= 500 && code < 600 {
		return actions.Permanent(e)
	}
	return e
}

// smtpCode finds the SMTP reply code in err, or 0.
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
