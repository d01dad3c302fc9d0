package telegram

import (
	"maps"
	"slices"
	"strings"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// destConfig is a destination as written in the rules file.
type destConfig struct {
	Token  string `yaml:"token"`
	ChatID string `yaml:"chat_id"`
	APIURL string `yaml:"api_url"`
	// ChatRate limits the messages to one chat (default 1/s).
	ChatRate string `yaml:"chat_rate"`
}

// actionConfig is a `telegram:` action as written in the rules file.
type actionConfig struct {
	Destination string           `yaml:"destination"`
	ChatID      actions.Template `yaml:"chat_id"`
	Text        actions.Template `yaml:"text"`
	ParseMode   string           `yaml:"parse_mode"`
	Preview     bool             `yaml:"preview"`
	Silent      bool             `yaml:"silent"`
}

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{Token: c.Token, ChatID: c.ChatID, APIURL: DefaultAPIURL, ChatRate: DefaultChatRate}
	if c.ChatRate != "" {
		r, err := actions.ParseRate(c.ChatRate, 0)
		if err != nil {
			b.Errorf(b.Field("chat_rate"), "chat_%v", err)
		}
		d.ChatRate = r
	}
	at := b.Field("token")
	if at == nil {
		at = b.Node
	}
	httpkit.CheckToken(b, at, "token", c.Token)
	if strings.ContainsFunc(c.Token, func(r rune) bool {
		return !(r == ':' || r == '_' || r == '-' || r == '*' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		// The token is a secret: never print it.
		b.Errorf(at, "token: a bot token has only letters, digits, :, _ and - (such as 123456:ABC-DEF1234ghIkl)")
	}
	if c.APIURL != "" {
		d.APIURL = httpkit.CheckAPIURL(b, b.Field("api_url"), "api_url", c.APIURL)
	}
	if c.ChatID != "" {
		if msg := chatProblem(c.ChatID); msg != "" {
			b.Errorf(b.Field("chat_id"), "chat_id: %s", msg)
		}
	}
	return d, b.Err()
}

func compile(b *actions.Block, d *Destination) (actions.Renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	if d == nil {
		b.Errorf(nil, "destination is required: the name of a `kind: telegram` destination")
		return nil, b.Err()
	}
	r := &renderer{chat: c.ChatID, text: c.Text, mode: c.ParseMode, preview: c.Preview, silent: c.Silent}
	if _, ok := escapers[c.ParseMode]; !ok {
		modes := slices.Sorted(maps.Keys(escapers))[1:]
		switch s := diag.Suggest(c.ParseMode, append(modes, "Markdown")); {
		case c.ParseMode == "Markdown":
			b.Errorf(b.Field("parse_mode"), "parse_mode: Markdown (the legacy mode) cannot escape payload text; use MarkdownV2 or HTML")
		case s != "":
			b.Errorf(b.Field("parse_mode"), "parse_mode: %q is not one of HTML, MarkdownV2 (did you mean %q?)", c.ParseMode, s)
		default:
			b.Errorf(b.Field("parse_mode"), "parse_mode: %q is not one of HTML, MarkdownV2 (leave it out for plain text)", c.ParseMode)
		}
	}
	if !c.Text.Set() || c.Text.Text.Source() == "" {
		b.Errorf(nil, "text is required")
	}
	switch {
	case !c.ChatID.Set() && d.ChatID == "":
		b.Errorf(nil, "chat_id is required: set it on the action or on the destination")
	case c.ChatID.Set() && c.ChatID.Text.Static():
		if msg := chatProblem(c.ChatID.Text.Source()); msg != "" {
			b.Errorf(c.ChatID.Node, "chat_id: %s", msg)
		}
	}
	return actions.RenderAs(r.render), b.Err()
}
