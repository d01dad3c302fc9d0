package log_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
	logaction "github.com/switchboard-dev/switchboard/actions/log"
)

// TestSender: entries are written at their level with their fields, and
// the sender never fails.
func TestSender(t *testing.T) {
	tests := []struct {
		name string
		dest any
		body string
		want map[string]any
	}{
		{"level and fields", nil, `{"level":"warn","message":"hi","fields":{"chat":"Sarah Brown","text":"x\ny"}}`,
			map[string]any{"level": "WARN", "msg": "hi", "chat": "Sarah Brown", "text": "x\ny"}},
		{"default level", nil, `{"message":"hi"}`, map[string]any{"level": "INFO", "msg": "hi"}},
		{"destination level", &logaction.Destination{Level: "error"}, `{"message":"hi"}`, map[string]any{"level": "ERROR", "msg": "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			s, err := logaction.Kind.NewSender(tt.dest, actions.SenderOptions{Logger: l})
			require.NoError(t, err)
			require.NoError(t, s.Send(context.Background(), actions.Request{Kind: "log", Body: json.RawMessage(tt.body)}))
			var got map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
			require.Equal(t, tt.want, got)
		})
	}
}

// TestUnreadableEntry: a stored entry with an unknown level is a
// permanent failure (a dead letter with the reason), not a silent drop.
func TestUnreadableEntry(t *testing.T) {
	var buf bytes.Buffer
	s, err := logaction.Kind.NewSender(nil, actions.SenderOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	require.NoError(t, err)
	err = s.Send(context.Background(), actions.Request{Kind: "log", Body: json.RawMessage(`{"level":"loud","message":"hi"}`)})
	require.True(t, actions.IsPermanent(err))
	require.EqualError(t, err, `log: level "loud" is not one of debug, info, warn, error`)
	require.Empty(t, buf.String())
}

func TestSenderRespectsTheLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := logaction.Kind.NewSender(&logaction.Destination{Level: "debug"}, actions.SenderOptions{Logger: l})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), actions.Request{Body: json.RawMessage(`{"message":"quiet"}`)}))
	require.Empty(t, buf.String())
}
