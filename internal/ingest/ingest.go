// Package ingest is the HTTP endpoint Cooby posts every WhatsApp message to.
//
// Cooby never retries, so a request is answered 2xx only after its raw body
// is durably in the store, and never later than the store allows: the
// handler authenticates, bounds and decodes the body, appends it (group
// commit, fsync) and answers; rules and actions run later, from the store.
//
// Routes (see [Handler.Register]):
//
//	POST    /hooks/cooby/{token}                        token in the path (the URL pasted into Cooby)
//	POST    /hooks/cooby   Authorization: Bearer <token>
//	OPTIONS both                                        CORS preflight, no token needed
//
// Answers are small JSON bodies: 202 {"id":N} for a new event, 200
// {"id":N,"duplicate":true} for a message already stored (N is the original;
// see engine.DedupeKey), 400 {"error":"...","quarantine_id":N} for an
// authenticated body that is not a Cooby payload (kept in the store's
// quarantine), 401, 404, 405, 413, 415, and 503 with Retry-After when the
// store is full (30 s) or failing (5 s).
// Every answer carries Access-Control-Allow-Origin.
package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// Path is the route the handler serves; a token may follow as one more
// path segment.
const Path = "/hooks/cooby"

// Defaults for zero Options fields.
const (
	DefaultAllowOrigin   = "*"
	DefaultMaxBodyBytes  = 1 << 20 // 1 MiB, of decoded bytes
	DefaultAppendTimeout = 10 * time.Second
)

// Store is what the handler needs from the store (*store.Store has it).
type Store interface {
	// Append stores the event durably before returning.
	Append(ctx context.Context, ev store.NewEvent) (store.Appended, error)
	// Quarantine keeps a body that is not a Cooby payload.
	Quarantine(ctx context.Context, raw []byte, reason string) (int64, error)
}

// Metrics receives one call per POST (preflights call none), to drive
// counters. Options.Metrics may be nil.
type Metrics interface {
	// OnAccepted: a new event was stored (202).
	OnAccepted()
	// OnDuplicate: a message already stored arrived again (200); its copy
	// was stored.
	OnDuplicate()
	// OnRejected: the request was answered with an error; reason is one of
	// the Reason constants.
	OnRejected(reason string)
	// OnStoreFull: the store's disk budget refused the event (503). Called
	// after OnRejected(ReasonStoreFull).
	OnStoreFull()
}

var (
	_ Store   = (*store.Store)(nil)
	_ Metrics = MetricsFuncs{}
)

// MetricsFuncs adapts functions to Metrics; nil fields are skipped.
type MetricsFuncs struct {
	Accepted  func()
	Duplicate func()
	Rejected  func(reason string)
	StoreFull func()
}

// OnAccepted implements Metrics.
func (m MetricsFuncs) OnAccepted() { call(m.Accepted) }

// OnDuplicate implements Metrics.
func (m MetricsFuncs) OnDuplicate() { call(m.Duplicate) }

// OnRejected implements Metrics.
func (m MetricsFuncs) OnRejected(reason string) {
	if m.Rejected != nil {
		m.Rejected(reason)
	}
}

// OnStoreFull implements Metrics.
func (m MetricsFuncs) OnStoreFull() { call(m.StoreFull) }

// Reasons passed to Metrics.OnRejected (bounded, fit for a label).
const (
	ReasonNotFound     = "not_found"            // 404: not a hook path
	ReasonMethod       = "method_not_allowed"   // 405
	ReasonUnauthorized = "unauthorized"         // 401: token missing or wrong
	ReasonTooLarge     = "too_large"            // 413: body (decoded) over MaxBodyBytes
	ReasonEncoding     = "unsupported_encoding" // 415: Content-Encoding other than gzip
	ReasonUnreadable   = "unreadable_body"      // 400: the body could not be read (client gone, timeout)
	ReasonInvalid      = "invalid_payload"      // 400: not a Cooby payload (or bad gzip), quarantined
	ReasonStoreFull    = "store_full"           // 503 Retry-After: 30
	ReasonStore        = "store_error"          // 503 Retry-After: 5
)

// Options configures the handler. Store is required.
type Options struct {
	// Store receives the events and the quarantined bodies.
	Store Store
	// Tokens are the accepted secrets; empty strings are ignored. With none,
	// every POST is refused with 401.
	Tokens []string
	// AllowOrigin is sent as Access-Control-Allow-Origin on every answer;
	// empty means "*".
	AllowOrigin string
	// MaxBodyBytes bounds the body after gzip decoding (and before it); zero
	// means 1 MiB.
	MaxBodyBytes int64
	// AppendTimeout bounds the store write. The write is not canceled when
	// the client hangs up: a body fully received is kept if the store can.
	// Zero means 10s.
	AppendTimeout time.Duration
	// Notify, if set, is called after each durable append so the dispatcher
	// wakes up, with the stored row's id and the payload as decoded (so that
	// it need not be decoded again). It must not block.
	Notify func(row int64, ev *engine.Event)
	// Logger receives one line per refused request (the path redacted) and,
	// at Debug, the accepted payloads. Nil means slog.Default().
	Logger *slog.Logger
	// Now stamps ReceivedAt; nil means time.Now.
	Now func() time.Time
	// Metrics, if set, is told the outcome of every POST.
	Metrics Metrics
}

// Handler serves the Cooby webhook. Create it with New.
type Handler struct {
	opt    Options
	tokens [][sha256.Size]byte // digests of the accepted tokens
}

// New returns the handler. It panics if opt.Store is nil.
func New(opt Options) *Handler {
	if opt.Store == nil {
		panic("ingest: Options.Store is nil")
	}
	if opt.AllowOrigin == "" {
		opt.AllowOrigin = DefaultAllowOrigin
	}
	if opt.MaxBodyBytes <= 0 {
		opt.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opt.AppendTimeout <= 0 {
		opt.AppendTimeout = DefaultAppendTimeout
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Metrics == nil {
		opt.Metrics = MetricsFuncs{}
	}
	h := &Handler{opt: opt}
	for _, t := range opt.Tokens {
		if t != "" {
			h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
		}
	}
	h.opt.Tokens = nil // only the digests are kept
	return h
}

// Register mounts the handler on mux at Path and Path/{token}.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle(Path, h)
	mux.Handle(Path+"/{token}", h)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", h.opt.AllowOrigin)
	pathToken, ok := splitPath(r.URL.Path)
	if !ok {
		h.refuse(w, r, &refusal{status: http.StatusNotFound, reason: ReasonNotFound, msg: "not found"})
		return
	}
	switch r.Method {
	case http.MethodOptions:
		preflight(w, r)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", allowedMethods)
		h.refuse(w, r, &refusal{status: http.StatusMethodNotAllowed, reason: ReasonMethod, msg: "method not allowed; use POST"})
		return
	}
	token := pathToken
	if token == "" {
		token = bearer(r.Header.Get("Authorization"))
	}
	if !h.authorized(token) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		h.refuse(w, r, &refusal{status: http.StatusUnauthorized, reason: ReasonUnauthorized, msg: "missing or wrong token"})
		return
	}
	received := h.opt.Now()

	body, ref := readBody(w, r, h.opt.MaxBodyBytes)
	if ref != nil && ref.reason != ReasonInvalid {
		h.refuse(w, r, ref)
		return
	}
	// From here on the whole body is in hand: finish the store write even if
	// the client hangs up, within AppendTimeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.opt.AppendTimeout)
	defer cancel()
	if ref != nil { // bad gzip: keep the bytes as they arrived
		h.quarantine(ctx, w, r, body, ref.msg)
		return
	}

	ev, err := engine.Decode(body)
	if err != nil {
		h.quarantine(ctx, w, r, body, err.Error())
		return
	}
	a, err := h.opt.Store.Append(ctx, store.NewEvent{Body: body, DedupeKey: engine.DedupeKey(ev, body), ReceivedAt: received})
	if err != nil {
		h.refuse(w, r, storeRefusal(err))
		return
	}
	if h.opt.Notify != nil {
		h.opt.Notify(a.Row, ev)
	}
	if h.opt.Logger.Enabled(r.Context(), slog.LevelDebug) {
		h.opt.Logger.LogAttrs(r.Context(), slog.LevelDebug, "cooby payload stored",
			slog.String("path", RedactPath(r.URL.Path)), slog.Int64("id", a.ID), slog.Int64("row", a.Row),
			slog.Bool("duplicate", a.Duplicate), slog.Int("bytes", len(body)),
			slog.String("body", string(truncate(body, 4096))))
	}
	if a.Duplicate {
		h.opt.Metrics.OnDuplicate()
		writeJSON(w, http.StatusOK, reply{ID: a.ID, Duplicate: true})
		return
	}
	h.opt.Metrics.OnAccepted()
	writeJSON(w, http.StatusAccepted, reply{ID: a.ID})
}

// quarantine keeps a body that is not a Cooby payload and answers 400.
func (h *Handler) quarantine(ctx context.Context, w http.ResponseWriter, r *http.Request, body []byte, reason string) {
	id, err := h.opt.Store.Quarantine(ctx, body, reason)
	if err != nil {
		// We could not keep it: say so with a 503, as for any store failure.
		h.refuse(w, r, storeRefusal(err))
		return
	}
	h.refuse(w, r, &refusal{status: http.StatusBadRequest, reason: ReasonInvalid, msg: reason, quarantineID: id})
}

// storeRefusal maps a store error to 503 with Retry-After.
func storeRefusal(err error) *refusal {
	if errors.Is(err, store.ErrFull) {
		return &refusal{status: http.StatusServiceUnavailable, reason: ReasonStoreFull,
			msg: "storage full, retry later", err: err, retryAfter: "30"}
	}
	return &refusal{status: http.StatusServiceUnavailable, reason: ReasonStore,
		msg: "storage unavailable, retry later", err: err, retryAfter: "5"}
}

// refuse answers an error and reports it to the log and the metrics.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, ref *refusal) {
	if ref.retryAfter != "" {
		w.Header().Set("Retry-After", ref.retryAfter)
	}
	writeJSON(w, ref.status, reply{Error: ref.msg, QuarantineID: ref.quarantineID})

	h.opt.Metrics.OnRejected(ref.reason)
	if ref.reason == ReasonStoreFull {
		h.opt.Metrics.OnStoreFull()
	}
	level := slog.LevelInfo
	switch ref.reason {
	case ReasonNotFound:
		level = slog.LevelDebug
	case ReasonTooLarge, ReasonEncoding, ReasonUnreadable, ReasonInvalid:
		level = slog.LevelWarn
	case ReasonStoreFull, ReasonStore:
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", RedactPath(r.URL.Path)),
		slog.String("remote", r.RemoteAddr),
		slog.Int("status", ref.status),
		slog.String("reason", ref.reason),
		slog.String("detail", ref.msg),
	}
	if ref.quarantineID != 0 {
		attrs = append(attrs, slog.Int64("quarantine_id", ref.quarantineID))
	}
	if ref.err != nil {
		attrs = append(attrs, slog.Any("err", ref.err))
	}
	h.opt.Logger.LogAttrs(r.Context(), level, "cooby request refused", attrs...)
}

// refusal is an error answer.
type refusal struct {
	status       int
	reason       string // a Reason constant
	msg          string // for the client
	err          error  // the cause, for the log only
	retryAfter   string // seconds, if set
	quarantineID int64  // the quarantined body, if any
}

func call(f func()) {
	if f != nil {
		f()
	}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
