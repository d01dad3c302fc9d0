package log

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/switchboard-dev/switchboard/actions"
)

// levels maps Levels to slog's.
var levels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// newSender builds the sender of log actions (d is a destination or nil).
// It writes each entry to o.Logger (slog.Default() if nil) at its level,
// with its fields sorted by name, and never fails once the entry is read
// (one it cannot read, with an unknown level, is a permanent failure).
func newSender(_ *Destination, o actions.SenderOptions) (actions.Send[*Entry], error) {
	l := o.Logger
	if l == nil {
		l = slog.Default()
	}
	return func(ctx context.Context, e *Entry, _ actions.Request) error {
		attrs := make([]slog.Attr, 0, len(e.Fields))
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			attrs = append(attrs, slog.String(k, e.Fields[k]))
		}
		l.LogAttrs(ctx, levels[e.Level], e.Message, attrs...)
		return nil
	}, nil
}
