// Package actions is the contract between the rules engine and the action
// kinds (http, slack, email, log, ...). Each kind lives in its own package
// under actions/ and is registered by one line in actions/builtin. A kind
// is written in its own types as a Spec (its config types, its render, its
// wire form and its send) and turned into a Kind by Define, which holds the
// scaffolding every kind shares; HTTP-shaped kinds share actions/httpkit.
//
// A kind checks its configuration once, at load time (Kind.Compile), and
// returns a Renderer. For every matching event the Renderer turns the event
// into the exact Request to perform. Dry-run prints that Request; the live
// service stores it and hands it to a Sender. Both sides share the Renderer,
// so what dry-run shows is what is sent.
package actions

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/switchboard-dev/switchboard/actions/egress"
)

// Kind is one action type, such as "slack".
type Kind interface {
	// ParseDestination checks one entry of the rules file's
	// `destinations:` section of this kind (the `kind:` key removed) and
	// returns its parsed configuration, handed back in Block.Dest to the
	// actions that refer to it.
	ParseDestination(b *Block) (any, error)
	// Compile checks one action of this kind: its fields, defaults and
	// templates. Errors carry positions (see Block.Errorf).
	Compile(b *Block) (Renderer, error)
}

// Renderer turns a matched event into the exact request to perform. It is
// pure and deterministic: the same environment gives the same request.
type Renderer interface {
	Render(env Env) (Request, error)
}

// RendererFunc adapts a function to the Renderer interface.
type RendererFunc func(env Env) (Request, error)

// Render calls f(env).
func (f RendererFunc) Render(env Env) (Request, error) { return f(env) }

// Env is the evaluation environment of one event. Action packages treat it
// as opaque and pass it to templates.
type Env any

// Request is a fully rendered action: the message, in the kind's own JSON
// form, without anything that belongs to the destination (its base URL,
// credentials, SMTP login). It is stored as is in the delivery queue, so a
// reload of the rules never changes a request already queued, and no secret
// is ever stored with it: the Sender adds the destination's part when it
// sends (see Deliverer.Wire).
type Request struct {
	// Kind is the action kind, e.g. "http".
	Kind string `json:"kind"`
	// Destination names the destination used, or is empty for an action
	// without one.
	Destination string `json:"destination,omitempty"`
	// Body is the kind-specific rendered message.
	Body json.RawMessage `json:"request"`
	// Key is the delivery's idempotency key (event, rule and action), set
	// by the delivery queue; HTTP-shaped kinds send it as the
	// Idempotency-Key header so receivers can drop repeats.
	Key string `json:"-"`
}

// Deliverer is implemented by kinds that perform their requests.
type Deliverer interface {
	// Wire combines a rendered request with its destination's parsed
	// configuration (nil for an action without a destination) into exactly
	// what will be sent: an *HTTPRequest for HTTP-shaped kinds, the kind's
	// own message type otherwise. It is pure. Dry-run prints it (secrets
	// redacted); the Sender sends it.
	Wire(dest any, r Request) (any, error)
	// NewSender builds the live sender for one destination (nil: the
	// sender of actions without a destination).
	NewSender(dest any, o SenderOptions) (Sender, error)
}

// SenderOptions are what the service hands every sender. The zero value is
// valid.
type SenderOptions struct {
	// Logger receives the sender's own log lines; nil means slog.Default().
	// Never log URLs or headers: they carry secrets.
	Logger *slog.Logger
	// Timeout bounds one attempt when the action sets none; 0 means 30s.
	Timeout time.Duration
	// MaxResponseBytes caps how much of a response body is read; 0 means
	// 64 KiB.
	MaxResponseBytes int64
	// UserAgent is sent by HTTP-shaped kinds; "" means "switchboard".
	UserAgent string
	// Egress, if set, decides which addresses the sender may connect to
	// (the service refuses private and local ones by default); nil allows
	// every address.
	Egress *egress.Guard
}

// Sender performs rendered requests for one destination. Classify failures
// with Permanent (retrying cannot help), RetryAfter (retry at a given time
// without counting a failed attempt), and StatusError (the HTTP status,
// recorded with the attempt); any other error is retried with backoff.
type Sender interface {
	Send(ctx context.Context, r Request) error
}

// SenderFunc adapts a function to the Sender interface.
type SenderFunc func(ctx context.Context, r Request) error

// Send calls f(ctx, r).
func (f SenderFunc) Send(ctx context.Context, r Request) error { return f(ctx, r) }

// Formatter is implemented by kinds that print their wire form (what Wire
// returns) in a form people read more easily than JSON: an HTTP request, an
// email message. Dry-run uses it; other kinds print indented JSON.
type Formatter interface {
	Format(wire any) (string, error)
}

// Configurer is implemented by kinds to describe their YAML configuration
// for the rules file's JSON Schema (schema/rules.schema.json). It returns
// zero values of the config structs that Block.Decode fills, for a
// destination of the kind and for an action of the kind.
type Configurer interface {
	ConfigTypes() (destination, action any)
}

// Tester is implemented by kinds that can send a clearly marked test
// message through a destination (`switchboard notify-test`), so that a
// webhook URL or an SMTP login is checked before a real message needs it.
type Tester interface {
	TestRequest(dest any, o TestOptions) (Request, error)
}

// TestOptions shape a test message.
type TestOptions struct {
	// Text is the message; it says that it is a test.
	Text string
	// To overrides the recipient where the kind has one (an email address,
	// a Slack channel).
	To string
}
