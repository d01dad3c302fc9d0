package dispatch

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// State is what the dispatcher reads of conversation state and the team
// directory; the writes go with Commit.
type State interface {
	Chats(ctx context.Context, ids []string) (map[string][]byte, error)
	TeamPhones(ctx context.Context) ([]string, error)
}

// batchState is the conversation state of the chats of one batch, and the
// team members it adds.
type batchState struct {
	chats   map[string]*engine.Conversation
	touched []string // chat ids whose state changed, in first-touch order
	newTeam []string
	isTeam  func(string) bool
}

// loadState reads the team directory (once) and the states of the chats
// that the decoded events belong to.
func (d *Dispatcher) loadState(ctx context.Context, rs *engine.RuleSet, evs []*engine.Event) (*batchState, error) {
	if d.team == nil {
		phones, err := d.opt.State.TeamPhones(ctx)
		if err != nil {
			return nil, err
		}
		d.team = make(map[string]bool, len(phones))
		for _, p := range phones {
			d.team[p] = true
		}
	}
	var ids []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev != nil && ev.ChatID != "" && !seen[ev.ChatID] {
			seen[ev.ChatID] = true
			ids = append(ids, ev.ChatID)
		}
	}
	stored, err := d.opt.State.Chats(ctx, ids)
	if err != nil {
		return nil, err
	}
	b := &batchState{chats: make(map[string]*engine.Conversation, len(ids))}
	for _, id := range ids {
		c := &engine.Conversation{}
		if data, ok := stored[id]; ok {
			if err := json.Unmarshal(data, c); err != nil {
				d.opt.Logger.Warn("dispatch: conversation state unreadable; starting it afresh", "chat", id, "err", err)
				c = &engine.Conversation{}
			}
		}
		b.chats[id] = c
	}
	b.isTeam = func(phone string) bool {
		n := engine.NormalizePhone(phone)
		return d.team[n] || rs.IsTeam(n)
	}
	return b, nil
}

// observe takes an original message into account and returns its chat's
// state for its evaluation; a repeat only reads the state.
func (b *batchState) observe(d *Dispatcher, e store.Event, ev *engine.Event) *engine.ChatState {
	if !isDuplicate(e) {
		if p := engine.NormalizePhone(ev.UserPhone); p != "" && !d.team[p] {
			d.team[p] = true
			b.newTeam = append(b.newTeam, p)
		}
	}
	c, ok := b.chats[ev.ChatID]
	if !ok {
		return nil
	}
	if !isDuplicate(e) {
		c.Observe(ev, engine.FromTeam(ev, b.isTeam), engine.MessageTime(ev, e.ReceivedAt))
		b.touched = append(b.touched, ev.ChatID)
	}
	s := c.State(d.opt.Now())
	return &s
}

// attach puts the batch's state changes on the last result, so that they
// commit with it.
func (b *batchState) attach(results []store.Evaluated) error {
	if len(results) == 0 || (len(b.touched) == 0 && len(b.newTeam) == 0) {
		return nil
	}
	last := &results[len(results)-1]
	last.TeamPhones = append(last.TeamPhones, b.newTeam...)
	for _, id := range b.touched {
		if last.Chats == nil {
			last.Chats = map[string][]byte{}
		}
		if _, done := last.Chats[id]; done {
			continue
		}
		data, err := json.Marshal(b.chats[id])
		if err != nil {
			return fmt.Errorf("encode the state of chat %q: %w", id, err)
		}
		last.Chats[id] = data
	}
	return nil
}
