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
		{"unreadable entry", nil, `{"level":"loud","message":"hi"}`, map[string]any{"level": "ERROR", "msg": "log action: unreadable entry", "err": `log: level "loud" is not one of debug, info, warn, error`}},
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
			s, err := logaction.Kind{}.NewSender(tt.dest, actions.SenderOptions{Logger: l})
			require.NoError(t, err)
			require.NoError(t, s.Send(context.Background(), actions.Request{Kind: "log", Body: json.RawMessage(tt.body)}))
			var got map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &got), buf.String())
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSenderRespectsTheLoggerLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := logaction.Kind{}.NewSender(&logaction.Destination{Level: "debug"}, actions.SenderOptions{Logger: l})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), actions.Request{Body: json.RawMessage(`{"message":"quiet"}`)}))
	require.Empty(t, buf.String())
}
