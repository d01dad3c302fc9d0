// Package console is Switchboard's web console: server-rendered pages
// (html/template, htmx 2 and uPlot, embedded in the binary) over the same
// functions as the admin API, for operators who want to see every event
// and delivery, replay dead letters and try rules without the CLI.
//
// Security: every page but /login needs a session, which a login with the
// admin token starts (an HttpOnly, SameSite=Strict cookie, Secure behind
// HTTPS); every POST carries the session's CSRF token; the Host header
// must be an IP address, localhost or a configured name (DNS rebinding);
// the Content-Security-Policy allows scripts and styles from the console
// itself only, and no page holds inline script. Payload text is escaped by
// html/template, and no page shows a secret.
package console

import (
	"crypto/subtle"
	"embed"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

//go:embed templates static
var files embed.FS

// Options configure a Console.
type Options struct {
	// Backend is the running service; Store its store's reads.
	Backend Backend
	Store   Store
	// Token is the admin token a login must present.
	Token string
	// Hosts are the host names (without port) the console answers to,
	// besides IP addresses and localhost.
	Hosts []string
	// SessionTTL is how long a session lasts; zero means 12 hours.
	SessionTTL time.Duration
	// Logger receives the console's errors; nil means slog.Default().
	Logger *slog.Logger
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Console is the web console's HTTP handler.
type Console struct {
	opt      Options
	mux      *http.ServeMux
	sessions *sessions
	pages    *pages
	replays  *replays
}

// New builds the console.
func New(opt Options) (*Console, error) {
	if opt.SessionTTL <= 0 {
		opt.SessionTTL = 12 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{opt: opt, mux: http.NewServeMux(), sessions: newSessions(opt.SessionTTL, opt.Now), pages: p, replays: &replays{}}
	c.routes()
	return c, nil
}

// Paths are the path patterns the console serves, for mounting it beside
// other handlers on one mux.
var Paths = []string{"/{$}", "/login", "/logout", "/static/", "/overview/", "/events", "/events/", "/deliveries", "/deliveries/",
	"/chats", "/chats/", "/rules", "/rules/", "/playground", "/playground/", "/destinations", "/destinations/"}

func (c *Console) routes() {
	static, _ := fs.Sub(files, "static")
	c.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	c.mux.HandleFunc("GET /login", c.getLogin)
	c.mux.HandleFunc("POST /login", c.postLogin)
	c.mux.HandleFunc("POST /logout", c.auth(c.postLogout))
	c.mux.HandleFunc("GET /{$}", c.auth(c.overview))
	c.mux.HandleFunc("GET /overview/live", c.auth(c.overviewLive))
	c.mux.HandleFunc("GET /overview/series", c.auth(c.overviewSeries))
	c.mux.HandleFunc("GET /events", c.auth(c.events))
	c.mux.HandleFunc("GET /events/{id}", c.auth(c.event))
	c.mux.HandleFunc("GET /deliveries", c.auth(c.deliveries))
	c.mux.HandleFunc("POST /deliveries/replay", c.auth(c.replay))
	c.mux.HandleFunc("GET /deliveries/progress/{id}", c.auth(c.replayProgress))
	c.mux.HandleFunc("GET /chats", c.auth(c.chats))
	c.mux.HandleFunc("GET /rules", c.auth(c.rules))
	c.mux.HandleFunc("POST /rules/reload", c.auth(c.reload))
	c.mux.HandleFunc("POST /rules/diff", c.auth(c.diff))
	c.mux.HandleFunc("GET /playground", c.auth(c.playground))
	c.mux.HandleFunc("POST /playground", c.auth(c.playground))
	c.mux.HandleFunc("GET /destinations", c.auth(c.destinations))
	c.mux.HandleFunc("POST /destinations/{name}/test", c.auth(c.sendTest))
}

// ServeHTTP checks the Host header, sets the security headers and serves.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.hostAllowed(r.Host) {
		http.Error(w, "unknown host: open the console by its IP address, localhost, or a name given to --console-host", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes browsers send Origin: null on form posts
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method == http.MethodPost && !c.sameOrigin(r) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// hostAllowed accepts IP addresses (a rebound name never arrives as one),
// localhost and the configured names.
func (c *Console) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, h := range c.opt.Hosts {
		if strings.EqualFold(strings.TrimSuffix(h, "."), host) {
			return true
		}
	}
	return false
}

// sameOrigin refuses a POST whose Origin header (browsers send one) names
// another host than the request's.
func (c *Console) sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if o == "null" {
		return false
	}
	_, rest, ok := strings.Cut(o, "://")
	return ok && strings.EqualFold(rest, r.Host)
}

// secure reports whether the request came over HTTPS (directly or through
// a proxy that says so), so that cookies get the Secure attribute.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func tokenOK(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func staticHandler(fsys fs.FS) http.Handler {
	fsrv := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".md") || strings.Contains(r.URL.Path, "LICENSE") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
