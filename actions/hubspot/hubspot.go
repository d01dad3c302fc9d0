// Package hubspot implements the `hubspot` action kind: contacts and the
// WhatsApp conversation kept in HubSpot's CRM, through the CRM v3 API
// with a private app's access token.
//
//	destinations:
//	  hubspot: {kind: hubspot, token: "${HUBSPOT_TOKEN}"}
//	rules:
//	  - ...
//	    actions:
//	      - hubspot: {destination: hubspot, do: upsert_contact, phone: "{{ sender.phone }}", properties: {firstname: "{{ sender.wa_name }}"}}
//	      - hubspot: {destination: hubspot, do: log_message, phone: "{{ sender.phone }}", text: "{{ text }}"}
//
// upsert_contact searches the contact whose phone or mobilephone is the
// number (normalised to +digits), then updates the properties given on the
// oldest match, or creates a contact with that phone and the properties.
// log_message adds a note to that contact with the message's text,
// direction and time; the note carries the WhatsApp message id, and a note
// of the contact at that time with that id already is not added again, so
// a retried or repeated delivery logs the message once. A log_message for
// a number HubSpot has no contact for yet is retried (upsert_contact in
// the same rule creates it).
//
// The token is added by Wire, never stored, and printed as ***. HubSpot
// allows a private app about 100 requests per 10 seconds and the search
// endpoints 4 a second; a delivery makes at most 3 requests, 2 of them
// searches, so destinations send 2 deliveries a second unless they set
// `rate:`. A 429 is retried after its Retry-After, or after the window of
// the limit it names (a second, ten seconds, a day).
package hubspot

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

// DefaultAPIURL is HubSpot's API base URL.
const DefaultAPIURL = "https://api.hubapi.com"

// Operations of an action (`do:`).
const (
	UpsertContact = "upsert_contact"
	LogMessage    = "log_message"
	// testOp is notify-test's: a read that checks the token and scope.
	testOp = "test"
)

var operations = []string{UpsertContact, LogMessage}

// Destination is a parsed `kind: hubspot` destination.
type Destination struct {
	// Token is the private app's access token (a secret).
	Token string
	// APIURL is the API's base URL.
	APIURL string
}

// Op is a rendered `hubspot:` action, the Body of its actions.Request.
type Op struct {
	Do string `json:"do"`
	// Phone is the contact's number as +digits.
	Phone string `json:"phone,omitempty"`
	// Properties are upsert_contact's, by HubSpot internal name.
	Properties map[string]string `json:"properties,omitempty"`
	// Text, Direction ("sent" or "received"), Time (Unix milliseconds)
	// and MessageID are log_message's.
	Text      string `json:"text,omitempty"`
	Direction string `json:"direction,omitempty"`
	TimeMS    int64  `json:"time_ms,omitempty"`
	MessageID string `json:"message_id,omitempty"`
}

// renderer renders one compiled `hubspot:` action.
type renderer struct {
	do                                  string
	phone, text, direction, time, msgID actions.Template
	props                               map[string]actions.Template
}

func (r *renderer) render(env actions.Env) (Op, error) {
	op := Op{Do: r.do}
	raw, err := r.phone.Render(env, nil)
	if err != nil {
		return Op{}, fmt.Errorf("hubspot: phone: %w", err)
	}
	digits := actions.NormalizePhone(raw)
	if len(digits) < 6 || len(digits) > 15 {
		return Op{}, fmt.Errorf("hubspot: phone: %q is not a phone number once rendered", cut(raw, 40))
	}
	op.Phone = "+" + digits
	if r.do == UpsertContact {
		op.Properties = make(map[string]string, len(r.props))
		for _, name := range slices.Sorted(maps.Keys(r.props)) {
			if op.Properties[name], err = r.props[name].Render(env, nil); err != nil {
				return Op{}, fmt.Errorf("hubspot: properties.%s: %w", name, err)
			}
		}
		return op, nil
	}
	if op.Text, err = r.text.Render(env, nil); err != nil {
		return Op{}, fmt.Errorf("hubspot: text: %w", err)
	}
	if op.Direction, err = r.direction.Render(env, nil); err != nil {
		return Op{}, fmt.Errorf("hubspot: direction: %w", err)
	}
	if op.Direction != "sent" && op.Direction != "received" {
		return Op{}, fmt.Errorf("hubspot: direction: %q is not sent or received once rendered", cut(op.Direction, 40))
	}
	t, err := r.time.Render(env, nil)
	if err != nil {
		return Op{}, fmt.Errorf("hubspot: time: %w", err)
	}
	if op.TimeMS, err = parseTime(t); err != nil {
		return Op{}, fmt.Errorf("hubspot: time: %w", err)
	}
	if op.MessageID, err = r.msgID.Render(env, nil); err != nil {
		return Op{}, fmt.Errorf("hubspot: message_id: %w", err)
	}
	if strings.TrimSpace(op.MessageID) == "" {
		return Op{}, fmt.Errorf("hubspot: message_id is empty once rendered: log_message needs it to log a message once")
	}
	return op, nil
}

// parseTime reads Unix seconds (a payload's timestamp) or an RFC 3339 time
// and returns Unix milliseconds.
func parseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil && secs > 0 {
		return secs * 1000, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Unix() > 0 {
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%q is not Unix seconds or an RFC 3339 time once rendered", cut(s, 40))
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// String describes the destination without its token.
func (d *Destination) String() string {
	if d == nil {
		return "hubspot destination"
	}
	return "hubspot private app <secret> via " + d.APIURL
}

// GoString is String, so that %#v does not print the token either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
