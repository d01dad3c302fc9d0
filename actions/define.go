package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// Spec is an action kind in its own types: D is its parsed destination
// (a pointer, such as *slack.Destination), M the rendered message stored
// as a Request's Body (JSON), and W the wire form, exactly what is sent
// (*HTTPRequest for HTTP-shaped kinds). Define turns a Spec into a Kind
// with every optional interface (Deliverer, Formatter, Configurer, Tester,
// RateDefaulter), so that a kind is its config types, its render and its
// send, and nothing else.
type Spec[D, M, W any] struct {
	// Name is the kind's name in rules files ("slack"), used in errors.
	Name string
	// DestinationConfig and ActionConfig are zero values of the structs a
	// destination and an action decode into (Block.Decode), for the
	// rules file's JSON Schema.
	DestinationConfig, ActionConfig any
	// ParseDestination checks one destination (its `kind:` removed).
	ParseDestination func(b *Block) (D, error)
	// Compile checks one action; dest is its destination's configuration,
	// or the zero D for an action without one. Its Renderer's requests
	// have an M as Body (see RenderAs).
	Compile func(b *Block, dest D) (Renderer, error)
	// Wire combines a stored message with its destination (the zero D for
	// an action without one: check it) into what is sent. r is the stored
	// request (its Destination and Key). It is pure.
	Wire func(dest D, m M, r Request) (W, error)
	// NewSender builds the live sender of one destination (the zero D:
	// the sender of actions without one; return an error if the kind
	// always needs one). It is handed each request's wire form.
	NewSender func(dest D, o SenderOptions) (Send[W], error)
	// Format prints a wire form for people (dry-run, notify-test); nil
	// prints an *HTTPRequest as an HTTP message and anything else as
	// indented JSON.
	Format func(w W) (string, error)
	// Test builds the message `switchboard notify-test` sends through a
	// destination; nil: the kind cannot send one.
	Test func(dest D, o TestOptions) (M, error)
	// DefaultRate is the rate limit of a destination without `rate:`;
	// nil: none.
	DefaultRate func(dest D) Rate
	// Notice builds the message that carries a Notice from the service
	// (the dead-letter summary of `on_dead_letter:`) in the kind's own
	// form; nil: the notice is carried as the Test message.
	Notice func(dest D, n Notice) (M, error)
}

// Send performs one request given its wire form w (r is the stored
// request: its Destination names where it goes, Key is its idempotency
// key). Classify failures as Sender says.
type Send[W any] func(ctx context.Context, w W, r Request) error

// Define checks spec and returns it as a Kind. It panics on a spec
// without ParseDestination, Compile or Wire: that is a programming error,
// found by any test that loads the kind.
func Define[D, M, W any](spec Spec[D, M, W]) Defined {
	if spec.Name == "" || spec.ParseDestination == nil || spec.Compile == nil || spec.Wire == nil {
		panic("actions.Define: a kind needs Name, ParseDestination, Compile and Wire")
	}
	return &defined[D, M, W]{spec: spec}
}

// Defined is a Kind built by Define: it has every optional interface.
type Defined interface {
	Kind
	Deliverer
	Formatter
	Configurer
	Tester
	RateDefaulter
	Noticer
	// Name is the kind's name in rules files.
	Name() string
}

// defined is a Kind built by Define.
type defined[D, M, W any] struct {
	spec Spec[D, M, W]
}

var _ Defined = (*defined[any, any, any])(nil)

func (k *defined[D, M, W]) Name() string { return k.spec.Name }

func (k *defined[D, M, W]) ParseDestination(b *Block) (any, error) {
	d, err := k.spec.ParseDestination(b)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (k *defined[D, M, W]) Compile(b *Block) (Renderer, error) {
	var dest D
	if b.DestName != "" {
		d, ok := b.Dest.(D)
		if !ok {
			return nil, fmt.Errorf("destination %q is not of kind %s", b.DestName, k.spec.Name)
		}
		dest = d
	}
	r, err := k.spec.Compile(b, dest)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// dest returns the typed destination of a request: the zero D for a
// request without one.
func (k *defined[D, M, W]) dest(dest any, name string) (D, error) {
	var zero D
	if dest == nil {
		if name != "" {
			return zero, fmt.Errorf("%s: destination %q is not configured", k.spec.Name, name)
		}
		return zero, nil
	}
	d, ok := dest.(D)
	if !ok {
		return zero, fmt.Errorf("%s: destination %q is not of kind %s", k.spec.Name, name, k.spec.Name)
	}
	return d, nil
}

// Wire decodes r's message and hands it to the spec's Wire with its typed
// destination.
func (k *defined[D, M, W]) Wire(dest any, r Request) (any, error) {
	return k.wire(dest, r)
}

func (k *defined[D, M, W]) wire(dest any, r Request) (W, error) {
	var zero W
	d, err := k.dest(dest, r.Destination)
	if err != nil {
		return zero, err
	}
	// Numbers in free-form values (Slack blocks, a card) stay as written
	// (json.Number), not float64.
	var m M
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return zero, fmt.Errorf("%s: decoding request: %w", k.spec.Name, err)
	}
	return k.spec.Wire(d, m, r)
}

// NewSender builds the spec's sender. Each Send wires the request first:
// a stored request that does not fit its destination is a permanent
// failure.
func (k *defined[D, M, W]) NewSender(dest any, o SenderOptions) (Sender, error) {
	if k.spec.NewSender == nil {
		return nil, fmt.Errorf("%s: actions of this kind are not sent", k.spec.Name)
	}
	var d D
	if dest != nil {
		var ok bool
		if d, ok = dest.(D); !ok {
			return nil, fmt.Errorf("%s: the destination is a %T, not of kind %s", k.spec.Name, dest, k.spec.Name)
		}
	}
	send, err := k.spec.NewSender(d, o)
	if err != nil {
		return nil, err
	}
	return SenderFunc(func(ctx context.Context, r Request) error {
		w, err := k.wire(dest, r)
		if err != nil {
			return Permanent(err)
		}
		return send(ctx, w, r)
	}), nil
}

func (k *defined[D, M, W]) Format(wire any) (string, error) {
	w, ok := wire.(W)
	if !ok {
		return "", fmt.Errorf("%s: not a wire form of this kind: %T", k.spec.Name, wire)
	}
	if k.spec.Format != nil {
		return k.spec.Format(w)
	}
	if h, ok := any(w).(*HTTPRequest); ok {
		if h == nil {
			return "", errors.New("no request")
		}
		return h.Format(), nil
	}
	data, err := JSON(w)
	if err != nil {
		return "", err
	}
	return IndentJSON(string(data)), nil
}

func (k *defined[D, M, W]) ConfigTypes() (destination, action any) {
	return k.spec.DestinationConfig, k.spec.ActionConfig
}

func (k *defined[D, M, W]) TestRequest(dest any, o TestOptions) (Request, error) {
	if k.spec.Test == nil {
		return Request{}, fmt.Errorf("%s destinations cannot send a test message", k.spec.Name)
	}
	return k.request(dest, "a test", func(d D) (M, error) { return k.spec.Test(d, o) })
}

func (k *defined[D, M, W]) NoticeRequest(dest any, n Notice) (Request, error) {
	if k.spec.Notice == nil {
		return k.TestRequest(dest, TestOptions{Text: n.Subject + "\n\n" + n.Text})
	}
	return k.request(dest, "a notice", func(d D) (M, error) { return k.spec.Notice(d, n) })
}

// request is the Request of a message the service writes itself (a test
// message, a notice) through destination dest; what names it in errors.
func (k *defined[D, M, W]) request(dest any, what string, build func(D) (M, error)) (Request, error) {
	d, ok := dest.(D)
	if !ok || isNil(d) {
		return Request{}, fmt.Errorf("%s: %s needs a destination", k.spec.Name, what)
	}
	m, err := build(d)
	if err != nil {
		return Request{}, err
	}
	body, err := JSON(m)
	if err != nil {
		return Request{}, fmt.Errorf("%s: %w", k.spec.Name, err)
	}
	return Request{Kind: k.spec.Name, Body: body}, nil
}

// canNotice reports whether the kind has a Notice or a Test message.
func (k *defined[D, M, W]) canNotice() bool { return k.spec.Notice != nil || k.spec.Test != nil }

func (k *defined[D, M, W]) DefaultRate(dest any) Rate {
	if k.spec.DefaultRate == nil {
		return Rate{}
	}
	d, _ := dest.(D)
	return k.spec.DefaultRate(d)
}

// isNil reports whether v is a nil pointer, map, slice or interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface, reflect.Func:
		return rv.IsNil()
	}
	return false
}

// WireAs is Kind.Wire with its result typed: the wire form of r through
// dest (nil for a request without destination), which must be a W.
func WireAs[W any](k Kind, dest any, r Request) (W, error) {
	var zero W
	d, ok := k.(Deliverer)
	if !ok {
		return zero, errors.New("the kind does not deliver")
	}
	w, err := d.Wire(dest, r)
	if err != nil {
		return zero, err
	}
	t, ok := w.(W)
	if !ok {
		return zero, fmt.Errorf("the wire form is a %T", w)
	}
	return t, nil
}

// RenderAs adapts a typed render function to a Renderer: the message it
// returns is encoded as the request's Body (no HTML escaping, see JSON).
func RenderAs[M any](render func(env Env) (M, error)) Renderer {
	return RendererFunc(func(env Env) (Request, error) {
		m, err := render(env)
		if err != nil {
			return Request{}, err
		}
		body, err := JSON(m)
		if err != nil {
			return Request{}, err
		}
		return Request{Body: body}, nil
	})
}
