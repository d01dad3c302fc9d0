package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Kind is the `telegram` action kind. Its test message is the text, as
// plain text, to --to or the destination's chat_id.
var Kind = actions.Define(actions.Spec[*Destination, Message, *actions.HTTPRequest]{
	Name:              "telegram",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination:  parseDestination,
	Compile:           compile,
	Wire:              wire,
	NewSender:         newSender,
	Test: func(d *Destination, o actions.TestOptions) (Message, error) {
		return Message{ChatID: o.To, Text: o.Text, LinkPreviewOptions: linkPreview{IsDisabled: true}}, nil
	},
	DefaultRate: func(*Destination) actions.Rate { return actions.Rate{PerSecond: 30, Burst: 30} },
})

// wire is the POST to sendMessage: the bot token in the URL path, the
// destination's chat when the message has none.
func wire(d *Destination, m Message, r actions.Request) (*actions.HTTPRequest, error) {
	if d == nil {
		return nil, fmt.Errorf("telegram: the message names no destination")
	}
	if m.ChatID == "" {
		m.ChatID = d.ChatID
	}
	if msg := chatProblem(m.ChatID); msg != "" {
		return nil, fmt.Errorf("telegram: chat_id: %s", msg)
	}
	// The token is checked at load to be one path segment as is.
	u := d.APIURL + "/bot" + d.Token + "/sendMessage"
	w, err := httpkit.JSONRequest("POST", u, m, r.Key, nil)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	return w, nil
}

// answer is a Bot API answer: {"ok":false,"error_code":429,
// "description":"Too Many Requests: retry after 5","parameters":
// {"retry_after":5}} on failure.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// newSender posts exactly what Wire returns, one message a second to each
// chat, and classifies the Bot API's answers: 429 is retried after the
// answer's retry_after (or Retry-After), 5xx are retried, every other
// failure (400 chat not found or can't parse entities, 401 Unauthorized,
// 403 bot was blocked) is permanent.
func newSender(d *Destination, o actions.SenderOptions) (actions.Send[*actions.HTTPRequest], error) {
	if d == nil {
		return nil, fmt.Errorf("telegram: actions always name a destination")
	}
	client := &httpkit.API{Client: httpkit.NewClient(o), Secrets: []string{d.Token}}
	chats := &chatLimiter{rate: d.ChatRate, lims: map[string]*rateLimiter{}}
	return func(ctx context.Context, w *actions.HTTPRequest, r actions.Request) error {
		if err := chats.wait(ctx, w); err != nil {
			return err
		}
		what := "telegram: sendMessage to " + httpkit.Where(r.Destination)
		var a answer
		_, err := client.Call(ctx, r.Destination, what, w, &a, func(resp *httpkit.Response) error {
			return classify(w, resp)
		})
		if err != nil {
			return err
		}
		if !a.OK {
			return actions.Permanent(fmt.Errorf("%s: the answer is not ok", what))
		}
		return nil
	}, nil
}

// classify reads a failed Bot API answer.
func classify(w *actions.HTTPRequest, resp *httpkit.Response) error {
	var a answer
	_ = json.Unmarshal(resp.Body, &a)
	desc := httpkit.Snippet(w, []byte(a.Description))
	if desc == "" {
		return nil
	}
	err := fmt.Errorf("HTTP %d: %s", resp.Status, desc)
	switch {
	case resp.Status == 429:
		after := time.Duration(a.Parameters.RetryAfter) * time.Second
		if after <= 0 {
			var ok bool
			if after, ok = actions.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); !ok {
				after = 30 * time.Second
			}
		}
		return actions.RetryAfter(min(after, actions.MaxRetryAfter), err)
	case resp.Status >= 500:
		return err
	case a.Parameters.MigrateToChatID != 0:
		return actions.Permanent(fmt.Errorf("%w (the group is now the supergroup %s: use that chat_id)", err, strconv.FormatInt(a.Parameters.MigrateToChatID, 10)))
	}
	return actions.Permanent(err)
}

// chatLimiter spaces the messages to one chat (by default a second
// apart, Telegram's limit per chat; `chat_rate:` sets another).
type chatLimiter struct {
	rate actions.Rate
	mu   sync.Mutex
	lims map[string]*rateLimiter
}

func (c *chatLimiter) wait(ctx context.Context, w *actions.HTTPRequest) error {
	var m struct {
		ChatID string `json:"chat_id"`
	}
	if err := json.Unmarshal([]byte(w.Body), &m); err != nil {
		return actions.Permanent(fmt.Errorf("telegram: %w", err))
	}
	if !c.rate.Limited() {
		return nil
	}
	c.mu.Lock()
	lim := c.lims[m.ChatID]
	if lim == nil {
		if len(c.lims) > 10_000 {
			clear(c.lims)
		}
		lim = rate.NewLimiter(rate.Limit(c.rate.PerSecond), c.rate.Burst)
		c.lims[m.ChatID] = lim
	}
	c.mu.Unlock()
	if err := lim.Wait(ctx); err != nil {
		return fmt.Errorf("telegram: waiting for the chat's rate limit: %w", ctxErr(ctx, err))
	}
	return nil
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if strings.Contains(err.Error(), "exceed context deadline") {
		return context.DeadlineExceeded
	}
	return err
}

type rateLimiter = rate.Limiter
