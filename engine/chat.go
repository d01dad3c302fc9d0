package engine

import (
	"encoding/json"
	"slices"
	"time"
)

// Conversation state: per chat, what the team and the customer last said
// and whether the customer is waiting for an answer. It is kept by the
// service (in the store) and by dry-run (across the payloads of one run),
// updated by every message, and seen by conditions as `chat`.
//
// Cooby posts messages out of order and up to minutes late, so the state is
// computed from the messages' own timestamps, never from arrival order: a
// reply whose payload arrives before the question's still answers it.

// ChatState is the state of one chat as conditions and templates see it,
// under `chat`.
type ChatState struct {
	ID string `json:"id" expr:"id"`
	// AwaitingReply: a customer wrote after the team's last message.
	AwaitingReply bool `json:"awaiting_reply" expr:"awaiting_reply"`
	// AwaitingSince is the time of the first customer message after the
	// team's last one (zero unless AwaitingReply); WaitingFor is how long
	// ago that was at the evaluation time.
	AwaitingSince time.Time     `json:"awaiting_since" expr:"awaiting_since"`
	WaitingFor    time.Duration `json:"waiting_for" expr:"waiting_for"`
	// LastReceivedAt and LastSentAt are the times of the customers' and
	// the team's latest messages.
	LastReceivedAt time.Time `json:"last_received_at" expr:"last_received_at"`
	LastSentAt     time.Time `json:"last_sent_at" expr:"last_sent_at"`
	// LastType, LastText and LastSender describe the latest message.
	LastType   string `json:"last_type" expr:"last_type"`
	LastText   string `json:"last_text" expr:"last_text"`
	LastSender Person `json:"last_sender" expr:"last_sender"`
	// ReceivedCount and SentCount count the customers' and the team's
	// messages.
	ReceivedCount int `json:"received_count" expr:"received_count"`
	SentCount     int `json:"sent_count" expr:"sent_count"`
}

// Episode identifies the chat's current episode for rules that act once
// per episode: the start of the current wait, or, when nobody waits, the
// last message.
func (s ChatState) Episode() string {
	if s.AwaitingReply {
		return "awaiting:" + s.AwaitingSince.UTC().Format(time.RFC3339Nano)
	}
	return "answered:" + s.LastSentAt.UTC().Format(time.RFC3339Nano)
}

// maxPending bounds the unanswered customer messages a conversation keeps
// (only the earliest matters for AwaitingSince, but a late team reply can
// answer some and not others).
const maxPending = 256

// Conversation is the stored record of one chat from which its ChatState
// is computed. The zero value is an empty chat. It is encoded as JSON by
// the store.
type Conversation struct {
	ChatID         string      `json:"chat_id"`
	LastTeamAt     time.Time   `json:"last_team_at"`
	LastCustomerAt time.Time   `json:"last_customer_at"`
	Pending        []time.Time `json:"pending,omitempty"` // customer messages after LastTeamAt, ascending
	LastAt         time.Time   `json:"last_at"`
	LastType       string      `json:"last_type,omitempty"`
	LastText       string      `json:"last_text,omitempty"`
	LastSender     Person      `json:"last_sender"`
	Received       int         `json:"received"`
	Sent           int         `json:"sent"`
	// Reported are the episodes (see ChatState.Episode) that for_each: chat
	// rules have acted on, by rule, the latest last; at most maxReported
	// per rule.
	Reported map[string][]string `json:"reported,omitempty"`
}

// maxReported bounds the episodes remembered per rule and chat: an episode
// can only come back after a late message changed the wait twice.
const maxReported = 8

// reported reports whether rule has acted on episode in this chat.
func (c *Conversation) reported(rule, episode string) bool {
	return slices.Contains(c.Reported[rule], episode)
}

// report records that rule acted on episode.
func (c *Conversation) report(rule, episode string) {
	if c.Reported == nil {
		c.Reported = map[string][]string{}
	}
	eps := append(c.Reported[rule], episode)
	if len(eps) > maxReported {
		eps = slices.Clone(eps[len(eps)-maxReported:])
	}
	c.Reported[rule] = eps
}

// MessageTime is when a message happened: its timestamp, or, when that is
// missing or invalid, when it was received.
func MessageTime(ev *Event, received time.Time) time.Time {
	if !ev.Time.IsZero() {
		return ev.Time
	}
	return received.UTC()
}

// FromTeam reports whether a message was written by the team: sent from a
// member's Cooby, or (in a group) received from a sender whose number is in
// the team directory.
func FromTeam(ev *Event, isTeam func(phone string) bool) bool {
	if ev.Direction == "sent" {
		return true
	}
	return isTeam != nil && ev.Sender.Phone != "" && isTeam(ev.Sender.Phone)
}

// Observe records one message, written at `at`, by the team or not.
// Messages may be observed in any order. Observe takes every message it is
// given into account; which messages carry conversation at all is decided
// by RuleSet.Carries, which the engine asks first.
func (c *Conversation) Observe(ev *Event, fromTeam bool, at time.Time) {
	if c.ChatID == "" {
		c.ChatID = ev.ChatID
	}
	if fromTeam {
		c.Sent++
		if at.After(c.LastTeamAt) {
			c.LastTeamAt = at
			// Customer messages up to the reply are answered.
			i, _ := slices.BinarySearchFunc(c.Pending, at, func(p, t time.Time) int { return p.Compare(t) })
			for i < len(c.Pending) && !c.Pending[i].After(at) {
				i++
			}
			c.Pending = slices.Clone(c.Pending[i:])
		}
	} else {
		c.Received++
		if at.After(c.LastCustomerAt) {
			c.LastCustomerAt = at
		}
		if at.After(c.LastTeamAt) {
			i, _ := slices.BinarySearchFunc(c.Pending, at, func(p, t time.Time) int { return p.Compare(t) })
			c.Pending = slices.Insert(c.Pending, i, at)
			if len(c.Pending) > maxPending {
				// Keep the earliest (the episode's start) and the latest.
				c.Pending = append(c.Pending[:1], c.Pending[len(c.Pending)-maxPending+1:]...)
			}
		}
	}
	if !at.Before(c.LastAt) {
		c.LastAt, c.LastType, c.LastText, c.LastSender = at, ev.Message.Type, ev.Message.Text, ev.Sender
	}
}

// State is the chat's state at now.
func (c *Conversation) State(now time.Time) ChatState {
	s := ChatState{
		ID: c.ChatID, LastReceivedAt: c.LastCustomerAt, LastSentAt: c.LastTeamAt,
		LastType: c.LastType, LastText: c.LastText, LastSender: c.LastSender,
		ReceivedCount: c.Received, SentCount: c.Sent,
	}
	if len(c.Pending) > 0 {
		s.AwaitingReply = true
		s.AwaitingSince = c.Pending[0]
		if now.After(s.AwaitingSince) {
			s.WaitingFor = now.Sub(s.AwaitingSince)
		}
	}
	return s
}

// chatJSON is ChatState's JSON form: waiting_for as people read it ("30m",
// "1h5m") and waiting_for_seconds as a number, never nanoseconds.
type chatJSON struct {
	chatFields
	WaitingFor        string `json:"waiting_for"`
	WaitingForSeconds int64  `json:"waiting_for_seconds"`
}

// chatFields is ChatState without its methods (the shallower waiting_for
// of chatJSON wins over its).
type chatFields ChatState

// MarshalJSON writes the state with its wait as text and seconds, as
// dryrun --json, the API and a `{{ chat }}` in a JSON body show it.
func (s ChatState) MarshalJSON() ([]byte, error) {
	return json.Marshal(chatJSON{chatFields: chatFields(s), WaitingFor: FormatDuration(s.WaitingFor),
		WaitingForSeconds: int64(s.WaitingFor.Round(time.Second) / time.Second)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *ChatState) UnmarshalJSON(data []byte) error {
	var v chatJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = ChatState(v.chatFields)
	s.WaitingFor = time.Duration(v.WaitingForSeconds) * time.Second
	return nil
}
