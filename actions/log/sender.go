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

// NewSender builds the sender of log actions (dest is a *Destination or
// nil). It writes each entry to o.Logger (slog.Default() if nil) at its
// level, with its fields sorted by name, and never fails: an entry it
// cannot read is reported on the same logger instead.
func (Kind) NewSender(dest any, o actions.SenderOptions) (actions.Sender, error) {
	l := o.Logger
	if l == nil {
		l = slog.Default()
	}
	return actions.SenderFunc(func(ctx context.Context, r actions.Request) error {
		e, err := Wire(dest, r)
		if err != nil {
			l.LogAttrs(ctx, slog.LevelError, "log action: unreadable entry", slog.String("err", err.Error()))
			return nil
		}
		attrs := make([]slog.Attr, 0, len(e.Fields))
		for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
			attrs = append(attrs, slog.String(k, e.Fields[k]))
		}
		l.LogAttrs(ctx, levels[e.Level], e.Message, attrs...)
		return nil
	}), nil
}
