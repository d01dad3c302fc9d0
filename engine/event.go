package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Person is a WhatsApp participant: the sender of a message or a member of
// its chat.
type Person struct {
	Phone  string `json:"phone" expr:"phone"`
	WaName string `json:"wa_name" expr:"wa_name"`
	// IsTeam: the number is a team member's (see the team directory). It
	// is never read from a payload.
	IsTeam bool `json:"-" expr:"is_team"`
}

// Message is the WhatsApp message a payload describes. Missing fields are
// empty strings, never nil, so conditions can compare them safely.
type Message struct {
	ID           string `json:"id" expr:"id"`
	Type         string `json:"type" expr:"type"`
	Text         string `json:"text" expr:"text"`
	FileName     string `json:"file_name" expr:"file_name"`
	FileURL      string `json:"file_url" expr:"file_url"`
	Caption      string `json:"caption" expr:"caption"`
	IsError      bool   `json:"is_error" expr:"is_error"`
	ErrorCode    string `json:"error_code" expr:"error_code"`
	ErrorMessage string `json:"error_message" expr:"error_message"`
}

// Event is one decoded Cooby webhook payload. Every field may be missing in
// the payload; a missing field is its zero value.
type Event struct {
	ChatID       string   `json:"chat_id"`
	ChatType     string   `json:"chat_type"`
	ChatTitle    string   `json:"chat_title"`
	UserPhone    string   `json:"user_phone"`
	UserEmail    string   `json:"user_email"`
	Direction    string   `json:"direction"`
	Message      Message  `json:"message"`
	Timestamp    string   `json:"timestamp"`
	Participants []Person `json:"participants"`
	Sender       Person   `json:"sender"`

	// Time is Timestamp parsed as UTC unix seconds; zero if the timestamp is
	// missing or not a plausible unix time (see TimestampErr).
	Time time.Time `json:"-"`
	// TimestampErr says why a present timestamp could not be used.
	TimestampErr string `json:"-"`
}

// DecodeError is a payload that cannot be used: not JSON, not an object, or
// a field of the wrong JSON type.
type DecodeError struct {
	// Field is the dotted path of the offending field ("message.type"), or
	// "" when the body as a whole is wrong.
	Field string
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return "payload: " + e.Msg
	}
	return fmt.Sprintf("payload field %q: %s", e.Field, e.Msg)
}

// MaxTimestamp is the largest unix time accepted in `timestamp` (year 3000).
const MaxTimestamp = 32503680000

// Decode parses a Cooby payload leniently, as the sender really behaves:
// fields may be missing or null, unknown fields are ignored, `message.type`
// is any string, and `timestamp` is a string (or number) of unix seconds.
// A body that is not a JSON object, or a field of the wrong JSON type, is a
// *DecodeError naming the field. If a key appears twice, the last one wins.
func Decode(data []byte) (*Event, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, &DecodeError{Msg: "empty body"}
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return nil, &DecodeError{Msg: "not valid JSON" + syntaxHint(trimmed)}
		}
		return nil, &DecodeError{Msg: "expected a JSON object, got " + jsonKind(trimmed[0])}
	}
	var w wireEvent
	if err := json.Unmarshal(trimmed, &w); err != nil {
		return nil, decodeError(trimmed, err)
	}
	ev := &Event{
		ChatID:       w.ChatID,
		ChatType:     w.ChatType,
		ChatTitle:    w.ChatTitle,
		UserPhone:    string(w.UserPhone),
		UserEmail:    w.UserEmail,
		Direction:    w.Direction,
		Timestamp:    string(w.Timestamp),
		Participants: w.Participants,
		Sender:       w.Sender,
	}
	if w.Message != nil {
		m := w.Message
		ev.Message = Message{
			ID: m.ID, Type: m.Type, Text: m.Text, FileName: m.FileName, FileURL: m.FileURL,
			Caption: m.Caption, IsError: m.IsError, ErrorCode: string(m.ErrorCode), ErrorMessage: m.ErrorMessage,
		}
	}
	ev.Time, ev.TimestampErr = parseTimestamp(ev.Timestamp)
	return ev, nil
}

func parseTimestamp(s string) (time.Time, string) {
	if s == "" {
		return time.Time{}, ""
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || secs <= 0 || secs > MaxTimestamp {
		return time.Time{}, fmt.Sprintf("timestamp %q is not unix seconds", truncate(s, 40))
	}
	return time.Unix(secs, 0).UTC(), ""
}

type wireEvent struct {
	ChatID       string       `json:"chat_id"`
	ChatType     string       `json:"chat_type"`
	ChatTitle    string       `json:"chat_title"`
	UserPhone    looseString  `json:"user_phone"`
	UserEmail    string       `json:"user_email"`
	Direction    string       `json:"direction"`
	Message      *wireMessage `json:"message"`
	Timestamp    looseString  `json:"timestamp"`
	Participants []Person     `json:"participants"`
	Sender       Person       `json:"sender"`
}

type wireMessage struct {
	ID           string      `json:"id"`
	Type         string      `json:"type"`
	Text         string      `json:"text"`
	FileName     string      `json:"file_name"`
	FileURL      string      `json:"file_url"`
	Caption      string      `json:"caption"`
	IsError      bool        `json:"is_error"`
	ErrorCode    looseString `json:"error_code"`
	ErrorMessage string      `json:"error_message"`
}

// plainString reports whether the inside of a JSON string literal holds
// no escape and only printable ASCII, so that it is its own value (the
// decoder has already checked the literal is valid).
func plainString(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c < 0x20 || c >= 0x80 {
			return false
		}
	}
	return true
}

// looseString accepts a JSON string or number (a phone number or an error
// code written as a number, a timestamp sent as a number) and keeps its
// text. Anything else is a type error.
type looseString string

func (s *looseString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 1 && b[0] == '"' && b[len(b)-1] == '"' && plainString(b[1:len(b)-1]):
		*s = looseString(b[1 : len(b)-1]) // the common case: nothing to unescape
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = looseString(v)
	case string(b) == "null":
	case len(b) > 0 && (b[0] == '-' || (b[0] >= '0' && b[0] <= '9')):
		*s = looseString(b)
	default:
		return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: stringType}
	}
	return nil
}

var stringType = reflect.TypeFor[string]()

func decodeError(data []byte, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		return &DecodeError{Field: field, Msg: fmt.Sprintf("expected %s, got %s", expectedKind(field), te.Value)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &DecodeError{Msg: fmt.Sprintf("not valid JSON at byte %d: %s", se.Offset, se.Error())}
	}
	return &DecodeError{Msg: err.Error()}
}

// expectedKind names the JSON type a field must have, for error messages.
func expectedKind(field string) string {
	switch field {
	case "message":
		return "an object"
	case "participants":
		return "a list"
	case "sender":
		return "an object"
	case "message.is_error":
		return "true or false"
	case "timestamp", "user_phone", "message.error_code":
		return "a string or number"
	}
	return "a string"
}

func syntaxHint(data []byte) string {
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf(" at byte %d: %s", se.Offset, se.Error())
	}
	return ""
}

func jsonKind(c byte) string {
	switch c {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	case '{':
		return "object"
	}
	return "number"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
