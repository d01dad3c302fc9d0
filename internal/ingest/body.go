package ingest

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// readBody reads the whole request body, gzip-decoded if so encoded, and
// returns it exactly as received otherwise. max bounds the bytes read off
// the wire and, for gzip, the decoded bytes too, so neither a lying
// Content-Length, a chunked stream nor a gzip bomb gets past it.
// Content-Type is deliberately ignored: every body goes through one parser.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *refusal) {
	gz, ok := gzipEncoded(r.Header.Values("Content-Encoding"))
	if !ok {
		return nil, &refusal{status: http.StatusUnsupportedMediaType, reason: ReasonEncoding,
			msg: "unsupported Content-Encoding; send identity or gzip"}
	}
	tooLarge := &refusal{status: http.StatusRequestEntityTooLarge, reason: ReasonTooLarge,
		msg: fmt.Sprintf("body larger than %d bytes", max)}
	if r.ContentLength > max {
		// Refuse before reading; the server closes the connection rather
		// than drain a large body.
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	raw, err := readAll(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, &refusal{status: http.StatusBadRequest, reason: ReasonUnreadable,
			msg: "could not read the request body", err: err}
	}
	if !gz {
		return raw, nil
	}

	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err == nil {
		var body []byte
		body, err = readAll(io.LimitReader(zr, max+1), -1)
		switch {
		case err == nil && int64(len(body)) > max:
			return nil, tooLarge
		case err == nil:
			return body, nil
		}
	}
	// Not gzip after all: keep what arrived, like any unusable body.
	return raw, &refusal{status: http.StatusBadRequest, reason: ReasonInvalid,
		msg: "body is not valid gzip: " + err.Error(), err: err}
}

// gzipEncoded reports whether the Content-Encoding values ask for gzip
// decoding; ok is false for any other coding (identity is no coding).
func gzipEncoded(values []string) (gz, ok bool) {
	n := 0
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			switch c = strings.ToLower(strings.TrimSpace(c)); c {
			case "", "identity":
			case "gzip", "x-gzip":
				gz = true
				n++
			default:
				return false, false
			}
		}
	}
	return gz, n <= 1 // gzip applied twice: not supported
}

// readAll is io.ReadAll with a first allocation of the announced size.
func readAll(r io.Reader, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
