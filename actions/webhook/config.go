package webhook

import (
	"maps"
	"mime"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// MaxTimeout is the longest attempt an action or destination may ask for.
const MaxTimeout = httpkit.MaxTimeout

// Destination is a parsed `kind: http` destination: a base URL that actions
// extend with a path, and headers sent with every request to it. None of it
// is stored with a rendered request: Wire adds it when the request is sent.
type Destination struct {
	// URL is the base URL: absolute, http or https, with a host.
	URL *url.URL
	// Header holds the destination's headers, names canonicalised. Values
	// often hold secrets (Authorization).
	Header map[string]string
	// Timeout bounds one attempt; 0 means the sender's default.
	Timeout time.Duration
}

// destConfig is a destination as written in the rules file.
type destConfig struct {
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Timeout time.Duration     `yaml:"timeout"`
}

// actionConfig is an `http:` action as written in the rules file.
type actionConfig struct {
	Destination string                      `yaml:"destination"`
	Method      string                      `yaml:"method"`
	URL         actions.Template            `yaml:"url"`
	Headers     map[string]actions.Template `yaml:"headers"`
	Query       map[string]actions.Template `yaml:"query"`
	Body        actions.Value               `yaml:"body"`
	RawBody     actions.Template            `yaml:"raw_body"`
	ContentType string                      `yaml:"content_type"`
	Escape      string                      `yaml:"escape"`
	Timeout     time.Duration               `yaml:"timeout"`
}

// methods are the methods an action may use.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// reservedHeaders are set by the URL, the body or the transport, never by
// the rules file.
var reservedHeaders = map[string]string{
	"Host":              "the host comes from the url",
	"Content-Length":    "it is computed from the body",
	"Transfer-Encoding": "it is chosen by the transport",
	"Connection":        "it is chosen by the transport",
}

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{Timeout: c.Timeout}
	checkTimeout(b, c.Timeout)
	switch {
	case c.URL == "":
		b.Errorf(nil, "url is required")
	case strings.Contains(c.URL, "{{"):
		b.Errorf(b.Field("url"), "url: destinations cannot use templates; put the varying part in the action's url")
	default:
		u, err := url.Parse(c.URL)
		switch {
		case err != nil:
			b.Errorf(b.Field("url"), "url: not a valid URL")
		case u.Scheme != "http" && u.Scheme != "https":
			b.Errorf(b.Field("url"), "url: must start with http:// or https://")
		case u.Host == "":
			b.Errorf(b.Field("url"), "url: has no host")
		case u.Fragment != "":
			b.Errorf(b.Field("url"), "url: a #fragment is never sent; remove it")
		default:
			d.URL = u
		}
	}
	d.Header = make(map[string]string, len(c.Headers))
	for _, name := range keysInOrder(b.Field("headers")) {
		value := c.Headers[name]
		at := keyNode(b.Field("headers"), name)
		canon, ok := checkHeaderName(b, at, name)
		if !ok {
			continue
		}
		if _, dup := d.Header[canon]; dup {
			b.Errorf(at, "headers: %s is set twice (header names ignore case)", canon)
			continue
		}
		if badHeaderValue(value) {
			// The value may be a secret: never print it.
			b.Errorf(at, "headers: the value of %s contains a line break or control character", canon)
			continue
		}
		d.Header[canon] = value
	}
	return d, b.Err()
}

// compile checks an action and builds its renderer.
func compile(b *actions.Block) (*renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	r := &renderer{url: c.URL, body: c.Body, rawBody: c.RawBody, timeout: c.Timeout, header: map[string]string{}}
	checkTimeout(b, c.Timeout)

	r.method = strings.ToUpper(c.Method)
	if r.method == "" {
		r.method = "POST"
	} else if !slices.Contains(methods, r.method) {
		b.Errorf(b.Field("method"), "method: %q is not one of %s", c.Method, strings.Join(methods, ", "))
	}

	if c.Destination != "" {
		d, ok := b.Dest.(*Destination)
		if !ok || d == nil || d.URL == nil {
			b.Errorf(b.Field("destination"), "destination %q is not an http destination", c.Destination)
			return nil, b.Err()
		}
		r.dest = d
		checkPathURL(b, c.URL)
	} else {
		r.scheme, r.host = checkFullURL(b, c.URL)
	}

	seen := map[string]bool{}
	for _, name := range keysInOrder(b.Field("headers")) {
		at := keyNode(b.Field("headers"), name)
		canon, ok := checkHeaderName(b, at, name)
		if !ok {
			continue
		}
		if canon == "Content-Type" {
			b.Errorf(at, "headers: set the body's type with content_type, not a Content-Type header")
			continue
		}
		if seen[canon] {
			b.Errorf(at, "headers: %s is set twice (header names ignore case)", canon)
			continue
		}
		seen[canon] = true
		r.headers = append(r.headers, namedTemplate{name: canon, t: c.Headers[name]})
	}
	for _, name := range slices.Sorted(maps.Keys(c.Query)) {
		if name == "" {
			b.Errorf(keyNode(b.Field("query"), name), "query: empty parameter name")
			continue
		}
		r.query = append(r.query, namedTemplate{name: name, t: c.Query[name]})
	}

	checkBody(b, &c, r)
	return r, b.Err()
}

// checkBody validates body, raw_body and content_type, and picks the
// content type and the escaping of raw_body.
func checkBody(b *actions.Block, c *actionConfig, r *renderer) {
	switch {
	case c.Body.Set() && c.RawBody.Set():
		b.Errorf(b.Field("raw_body"), "body and raw_body cannot both be set")
		return
	case !c.Body.Set() && !c.RawBody.Set():
		if c.ContentType != "" {
			b.Errorf(b.Field("content_type"), "content_type needs a body or raw_body")
		}
		return
	case r.method == "GET":
		b.Errorf(nil, "a GET request has no body; use query, or another method")
		return
	}
	// A Content-Type header of the destination is used as is: Wire adds
	// it, since a rendered request holds nothing of its destination.
	ct, fromDest := c.ContentType, false
	if ct == "" && r.dest != nil {
		ct, fromDest = r.dest.Header["Content-Type"], true
	}
	if ct == "" {
		fromDest = false
		ct = "text/plain; charset=utf-8"
		if c.Body.Set() {
			ct = "application/json"
		}
	}
	media, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(media, "/") || badHeaderValue(ct) {
		b.Errorf(b.Field("content_type"), "content_type: %q is not a media type such as application/json", ct)
		return
	}
	if !fromDest {
		r.header["Content-Type"] = ct
	}
	if c.RawBody.Set() {
		syntax, problem := rawBodyFor(media, c.Escape, c.RawBody)
		if problem != "" {
			at := b.Field("escape")
			if at == nil {
				at = c.RawBody.Node
			}
			b.Errorf(at, "%s", problem)
			return
		}
		r.rawSyntax = syntax
	} else if c.Escape != "" {
		b.Errorf(b.Field("escape"), "escape: applies to raw_body only")
	}
}

// checkTimeout checks a timeout: unset, or positive and at most MaxTimeout.
func checkTimeout(b *actions.Block, d time.Duration) {
	if d < 0 || d > 0 && d < time.Millisecond || d > MaxTimeout {
		b.Errorf(b.Field("timeout"), "timeout: %s is not between 1ms and %s", d, MaxTimeout)
	}
}

// checkFullURL checks the url of an action without destination: the scheme
// and host must be written in the rules file, before any {{ }}, and end
// with a "/", so no payload value can choose where the request goes. It
// returns them.
func checkFullURL(b *actions.Block, t actions.Template) (scheme, host string) {
	at := t.Node
	if !t.Set() || t.Text.Source() == "" {
		b.Errorf(nil, "url is required (a full URL, or a path with a destination)")
		return "", ""
	}
	src := t.Text.Source()
	prefix := src
	if i := strings.Index(src, "{{"); i >= 0 {
		s, rest, ok := strings.Cut(src[:i], "://")
		j := strings.IndexAny(rest, "/?#")
		if !ok || j < 0 || rest[j] != '/' {
			b.Errorf(at, "url: write the scheme and host in full before any {{ }}, ending with a /, such as https://api.example.com/%s", "{{ ... }}")
			return "", ""
		}
		prefix = s + "://" + rest[:j+1]
	}
	u, err := url.Parse(prefix)
	switch {
	case err != nil:
		b.Errorf(at, "url: not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		b.Errorf(at, "url: must start with http:// or https://")
	case u.Host == "":
		b.Errorf(at, "url: has no host")
	default:
		return u.Scheme, u.Host
	}
	return "", ""
}

// checkPathURL checks the url of an action with a destination: a path
// appended to the destination's URL, or nothing.
func checkPathURL(b *actions.Block, t actions.Template) {
	if !t.Set() {
		return
	}
	src := t.Text.Source()
	if src == "" {
		return
	}
	if !strings.HasPrefix(src, "/") || strings.HasPrefix(src, "//") {
		b.Errorf(t.Node, "url: with a destination, url is a path starting with a single / (such as /contacts/{{ sender.phone }}), appended to the destination's url")
	}
}

// checkHeaderName checks a header name and returns its canonical form.
func checkHeaderName(b *actions.Block, at *yaml.Node, name string) (string, bool) {
	if !validToken(name) {
		b.Errorf(at, "headers: %q is not a valid header name", name)
		return "", false
	}
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if why, bad := reservedHeaders[canon]; bad {
		b.Errorf(at, "headers: %s cannot be set: %s", canon, why)
		return "", false
	}
	return canon, true
}

// validToken and badHeaderValue are httpkit's checks, shared with the
// other HTTP-shaped kinds.
var (
	validToken     = httpkit.ValidToken
	badHeaderValue = httpkit.BadHeaderValue
)

// keyNode returns the key node of key in mapping m, for error positions.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return m
}

// keysInOrder returns the keys of mapping m in the order they are written.
func keysInOrder(m *yaml.Node) []string {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]string, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, m.Content[i].Value)
	}
	return out
}

// resolve follows aliases (`headers: *common`) to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}
