package actions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// HTTPRequest is the wire form of an action sent as one HTTP request (the
// http and slack kinds): everything that goes on the wire, the destination's
// URL and credentials and the Idempotency-Key header (from Request.Key)
// included. Wire builds it; dry-run prints it and the sender sends it.
type HTTPRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	// Header holds one value per name, canonicalised (Content-Type).
	Header map[string]string `json:"header,omitempty"`
	// Body is sent as is.
	Body string `json:"body,omitempty"`
	// TimeoutMS bounds one attempt; 0 means the sender's default.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// Format prints the request as an HTTP message: request line, sorted
// headers, a blank line, and the body (indented if it is JSON).
func (r *HTTPRequest) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, r.Header[k])
	}
	if r.Body != "" {
		b.WriteByte('\n')
		b.WriteString(IndentJSON(r.Body))
		b.WriteByte('\n')
	}
	return b.String()
}

// IndentJSON indents s if it is a JSON document, and returns it unchanged
// otherwise.
func IndentJSON(s string) string {
	if !json.Valid([]byte(s)) {
		return s
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		return s
	}
	return buf.String()
}

// marshal encodes v as JSON without escaping <, > and & as \u003c and the
// like: the output stays valid JSON and reads as the author wrote it.
func marshal(v any) ([]byte, error) {
	e := encoders.Get().(*encoder)
	defer encoders.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte("\n"))), nil
}

// encoder is a reusable JSON encoder writing into its own buffer.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

// JSON encodes v the way rendered bodies are encoded (no HTML escaping).
func JSON(v any) ([]byte, error) { return marshal(v) }
