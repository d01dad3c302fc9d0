package engine_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

func TestDecodeSamples(t *testing.T) {
	files, err := filepath.Glob("../testdata/cooby/*.json")
	require.NoError(t, err)
	require.Len(t, files, 13)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		ev, err := engine.Decode(data)
		require.NoError(t, err, f)
		require.NotEmpty(t, ev.Direction, f)
		require.False(t, ev.Time.IsZero(), f)
		require.Empty(t, ev.TimestampErr, f)
	}
}

// TestSamplesMatchShared keeps the copies in testdata/cooby identical to
// the shared samples, when those are present.
func TestSamplesMatchShared(t *testing.T) {
	shared, _ := filepath.Glob("../../shared/cooby/payloads/*.json")
	if len(shared) == 0 {
		t.Skip("../shared/cooby/payloads not present")
	}
	for _, f := range shared {
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join("../testdata/cooby", filepath.Base(f)))
		require.NoError(t, err, "copy %s into testdata/cooby", f)
		require.Equal(t, string(want), string(got), f)
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		check    func(t *testing.T, ev *engine.Event)
		err      string
	}{
		{name: "timestamp string", in: `{"timestamp":"1628843453"}`, check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, time.Date(2021, 8, 13, 8, 30, 53, 0, time.UTC), ev.Time)
		}},
		{name: "timestamp number", in: `{"timestamp":1628843453}`, check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, "1628843453", ev.Timestamp)
			require.Equal(t, int64(1628843453), ev.Time.Unix())
		}},
		{name: "timestamp garbage is flagged, not an error", in: `{"timestamp":"abc"}`, check: func(t *testing.T, ev *engine.Event) {
			require.True(t, ev.Time.IsZero())
			require.Contains(t, ev.TimestampErr, "not unix seconds")
		}},
		{name: "timestamp too large", in: `{"timestamp":"99999999999"}`, check: func(t *testing.T, ev *engine.Event) {
			require.True(t, ev.Time.IsZero())
			require.NotEmpty(t, ev.TimestampErr)
		}},
		{name: "open type enum", in: `{"message":{"type":"poll_v9"}}`, check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, "poll_v9", ev.Message.Type)
		}},
		{name: "nulls are empty", in: `{"chat_id":null,"message":{"file_name":null,"caption":null,"error_code":null}}`, check: func(t *testing.T, ev *engine.Event) {
			require.Empty(t, ev.ChatID)
			require.Empty(t, ev.Message.FileName)
		}},
		{name: "message null", in: `{"message":null}`, check: func(t *testing.T, ev *engine.Event) {
			require.Empty(t, ev.Message.Type)
		}},
		{name: "unknown fields tolerated", in: `{"extra":{"deep":[1,2]},"message":{"new_field":true}}`, check: func(t *testing.T, ev *engine.Event) {}},
		{name: "duplicate keys: last wins", in: `{"direction":"sent","direction":"received"}`, check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, "received", ev.Direction)
		}},
		{name: "numeric error code", in: `{"message":{"error_code":503}}`, check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, "503", ev.Message.ErrorCode)
		}},
		{name: "invalid utf-8 becomes U+FFFD", in: "{\"message\":{\"text\":\"a\xffb\"}}", check: func(t *testing.T, ev *engine.Event) {
			require.Equal(t, "a\uFFFDb", ev.Message.Text)
		}},
		{name: "wrong type names the field", in: `{"direction":5}`, err: `payload field "direction": expected a string, got number`},
		{name: "nested wrong type", in: `{"message":{"type":["pdf"]}}`, err: `payload field "message.type": expected a string, got array`},
		{name: "message not an object", in: `{"message":"hi"}`, err: `payload field "message": expected an object, got string`},
		{name: "participant wrong type", in: `{"participants":[{"phone":true}]}`, err: `payload field "participants.phone": expected a string, got bool`},
		{name: "is_error wrong type", in: `{"message":{"is_error":"yes"}}`, err: `payload field "message.is_error": expected true or false, got string`},
		{name: "not json", in: `hello`, err: `payload: not valid JSON`},
		{name: "truncated", in: `{"chat_id":"1`, err: `payload: not valid JSON`},
		{name: "array", in: `[{"chat_id":"1"}]`, err: `payload: expected a JSON object, got array`},
		{name: "empty", in: ``, err: `payload: empty body`},
		{name: "deep nesting", in: `{"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`, err: `payload: not valid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := engine.Decode([]byte(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Nil(t, ev)
				return
			}
			require.NoError(t, err)
			tt.check(t, ev)
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"+44 7441 369136":    "447441369136",
		"0044 7441-369136":   "447441369136",
		"447441369136@c.us":  "447441369136",
		"120363@g.us":        "120363",
		"":                   "",
		"(+1) 555 0100 ext.": "15550100",
	} {
		require.Equal(t, want, engine.NormalizePhone(in), in)
	}
}
