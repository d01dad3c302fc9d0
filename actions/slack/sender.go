package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// newSender builds the sender of one destination (nil for actions with an
// inline webhook_url). It posts exactly what Wire returns, through
// httpkit.Client, and classifies the answer:
//
//   - HTTP statuses as actions.CheckHTTP does: a 429 is retried after its
//     Retry-After (seconds), 5xx are retried, and an incoming webhook's
//     4xx (invalid_payload, channel_not_found, ...) is permanent;
//   - for chat.postMessage, whose failures are 200 answers with
//     {"ok":false,"error":"..."}: ratelimited is retried after Retry-After,
//     Slack's own transient errors (internal_error, ...) are retried, and
//     every other error (invalid_auth, channel_not_found, not_in_channel,
//     ...) is permanent.
func newSender(d *Destination, o actions.SenderOptions) (actions.Send[*actions.HTTPRequest], error) {
	api := d != nil && d.Token != ""
	client := httpkit.NewClient(o)
	return func(ctx context.Context, w *actions.HTTPRequest, r actions.Request) error {
		resp, err := client.Do(ctx, r.Destination, w)
		if err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		if err := client.Check(w, resp); err != nil {
			return fmt.Errorf("slack: %s: %w", where(r.Destination), err)
		}
		if !api {
			return nil
		}
		return checkAPI(r.Destination, resp)
	}, nil
}

// where names the destination in errors, never the webhook URL.
func where(name string) string {
	if name == "" {
		return "inline webhook"
	}
	return fmt.Sprintf("destination %q", name)
}

// transientErrors are chat.postMessage errors that a later attempt may
// not get. Every other error is permanent.
var transientErrors = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// checkAPI classifies a 2xx answer of chat.postMessage.
func checkAPI(name string, resp *httpkit.Response) error {
	ok, code, found := scanAnswer(resp.Body)
	switch {
	case !found:
		return fmt.Errorf("slack: chat.postMessage to %s: the answer has no \"ok\" field", where(name))
	case ok:
		return nil
	}
	err := fmt.Errorf("slack: chat.postMessage to %s: %s", where(name), code)
	switch {
	case code == "ratelimited" || code == "rate_limited":
		d, ok := actions.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			d = 30 * time.Second
		}
		return actions.RetryAfter(d, err)
	case transientErrors[code]:
		return err
	}
	return actions.Permanent(err)
}

// scanAnswer reads the top-level "ok" and "error" fields of a Web API
// answer. It reads the object key by key, so that an answer cut at the
// response limit (chat.postMessage echoes the message) still gives its
// "ok", which Slack writes first.
func scanAnswer(body []byte) (ok bool, code string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false, "", false
	}
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			break
		}
		switch key {
		case "ok":
			if dec.Decode(&ok) != nil {
				return false, "", false
			}
			found = true
			if ok {
				return true, "", true
			}
		case "error":
			var s string
			if dec.Decode(&s) != nil {
				return ok, code, found
			}
			code = errorCode(s)
		default:
			if dec.Decode(new(json.RawMessage)) != nil {
				return ok, code, found
			}
		}
		if found && code != "" {
			break
		}
	}
	if found && code == "" {
		code = "unknown_error"
	}
	return ok, code, found
}

// errorCode keeps a Slack error code printable: lower-case letters,
// digits and _, at most 64 of them.
func errorCode(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return -1
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}
