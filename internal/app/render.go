package app

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// render renders again, with the running rules, the action of a replayed
// delivery whose first rendering failed: for its stored event, with the
// chat's conversation as it is now.
func (a *App) render(ctx context.Context, j store.Job) (actions.Request, error) {
	if j.EventID <= 0 {
		return actions.Request{}, fmt.Errorf("a scheduled run's action cannot be rendered again; fix the rule and wait for its next run")
	}
	e, err := a.store.Event(ctx, j.EventID)
	if err != nil {
		return actions.Request{}, err
	}
	ev, err := engine.Decode(e.Body)
	if err != nil {
		return actions.Request{}, err
	}
	now := time.Now().UTC()
	opts := engine.PlanOptions{Now: now}
	if ev.ChatID != "" {
		chats, err := a.store.Chats(ctx, []string{ev.ChatID})
		if err != nil {
			return actions.Request{}, err
		}
		conv := &engine.Conversation{ChatID: ev.ChatID}
		if c, ok := chats[ev.ChatID]; ok {
			conv, _ = dispatch.Conversation(ev.ChatID, c) // unreadable: an empty chat
		}
		st := conv.State(now)
		opts.Chat = &st
	}
	return a.Rules().RenderAction(j.Rule, j.Action, ev, opts)
}
