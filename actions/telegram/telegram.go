// Package telegram implements the `telegram` action kind: a message sent
// by a bot with the Bot API's sendMessage.
//
//	destinations:
//	  ops-bot: {kind: telegram, token: "${TELEGRAM_BOT_TOKEN}", chat_id: "-1001234567890"}
//	rules:
//	  - ...
//	    actions:
//	      - telegram: {destination: ops-bot, text: "{{ sender.wa_name }}: {{ text }}"}
//
// The text is sent without a parse mode by default, so Telegram shows it
// as typed. With `parse_mode: HTML` or `MarkdownV2` the text the rules'
// author wrote is formatting, and every value taken from the event is
// escaped for that mode (see EscapeHTML, EscapeMarkdownV2), so a WhatsApp
// message cannot add a link, a mention or break the formatting. The
// legacy `Markdown` mode is refused: it cannot escape every character.
//
// The bot token is part of the API URL; it is added by Wire when the
// message is sent and never stored. Telegram accepts about one message a
// second per chat and 30 a second per bot: the destination's default rate
// is 30/s and the sender spaces messages to one chat a second apart.
package telegram

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
)

// DefaultAPIURL is the Bot API's base URL.
const DefaultAPIURL = "https://api.telegram.org"

// MaxText is the longest text sendMessage accepts, in characters.
const MaxText = 4096

// Parse modes.
const (
	ModeNone       = ""
	ModeHTML       = "HTML"
	ModeMarkdownV2 = "MarkdownV2"
)

// Destination is a parsed `kind: telegram` destination.
type Destination struct {
	// Token is the bot token (a secret).
	Token string
	// ChatID is the default chat of the actions that set none.
	ChatID string
	// APIURL is the Bot API's base URL.
	APIURL string
	// ChatRate limits the messages sent to one chat.
	ChatRate actions.Rate
}

// DefaultChatRate is Telegram's limit per chat: about one message a
// second.
var DefaultChatRate = actions.Rate{PerSecond: 1, Burst: 1}

// Message is a rendered `telegram:` action: the sendMessage parameters.
// It holds nothing of the destination but, when the action sets none, the
// chat is "" and Wire uses the destination's.
type Message struct {
	ChatID    string `json:"chat_id"`
	Text      string `json:"text"`
	ParseMode string `json:"parse_mode,omitempty"`
	// LinkPreviewOptions is always sent, previews off unless the action
	// sets `preview: true`, so Telegram fetches no link from a payload.
	LinkPreviewOptions linkPreview `json:"link_preview_options"`
	// DisableNotification sends the message silently.
	DisableNotification bool `json:"disable_notification,omitempty"`
}

type linkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

// htmlEscaper escapes the characters Telegram's HTML mode reads.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// EscapeHTML escapes a value for parse_mode HTML: & < > and " become
// entities, so no tag or entity can come from the event.
func EscapeHTML(s string) string { return htmlEscaper.Replace(s) }

// markdownV2Special are the characters MarkdownV2 asks to escape with a
// backslash anywhere in text (the backslash itself included).
const markdownV2Special = "\\_*[]()~`>#+-=|{}.!"

// EscapeMarkdownV2 escapes a value for parse_mode MarkdownV2: every
// special character gets a backslash, so the value is plain text.
func EscapeMarkdownV2(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		if r < utf8.RuneSelf && strings.ContainsRune(markdownV2Special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// escapers are the escapers of the parse modes.
var escapers = map[string]actions.Escaper{ModeNone: nil, ModeHTML: EscapeHTML, ModeMarkdownV2: EscapeMarkdownV2}

// renderer renders one compiled `telegram:` action.
type renderer struct {
	chat    actions.Template
	text    actions.Template
	mode    string
	preview bool
	silent  bool
}

func (r *renderer) render(env actions.Env) (Message, error) {
	m := Message{ParseMode: r.mode, LinkPreviewOptions: linkPreview{IsDisabled: !r.preview}, DisableNotification: r.silent}
	var err error
	if m.Text, err = r.text.Render(env, escapers[r.mode]); err != nil {
		return Message{}, fmt.Errorf("telegram: text: %w", err)
	}
	if strings.TrimSpace(m.Text) == "" {
		return Message{}, fmt.Errorf("telegram: text is empty once rendered")
	}
	if n := utf8.RuneCountInString(m.Text); n > MaxText {
		if r.mode != ModeNone {
			return Message{}, fmt.Errorf("telegram: text is %d characters once rendered; Telegram takes at most %d", n, MaxText)
		}
		m.Text = cut(m.Text, MaxText)
	}
	if r.chat.Set() {
		if m.ChatID, err = r.chat.Render(env, nil); err != nil {
			return Message{}, fmt.Errorf("telegram: chat_id: %w", err)
		}
		if msg := chatProblem(m.ChatID); msg != "" {
			return Message{}, fmt.Errorf("telegram: chat_id: %s", msg)
		}
	}
	return m, nil
}

// cut shortens s to n characters, the last one an ellipsis.
func cut(s string, n int) string {
	i := 0
	for j := range s {
		if i == n-1 {
			return s[:j] + "…"
		}
		i++
	}
	return s
}

// chatProblem says what is wrong with a chat id, or "": an integer such
// as -1001234567890, or a public channel's @username.
func chatProblem(s string) string {
	switch {
	case s == "":
		return "empty chat id"
	case strings.HasPrefix(s, "@"):
		name := s[1:]
		if len(name) < 4 || len(name) > 32 || strings.ContainsFunc(name, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) {
			return "not a chat id such as -1001234567890 or a channel username such as @mychannel"
		}
		return ""
	}
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(digits) > 20 || strings.ContainsFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) {
		return "not a chat id such as -1001234567890 or a channel username such as @mychannel"
	}
	return ""
}

// String describes the destination without its token.
func (d *Destination) String() string {
	if d == nil {
		return "telegram destination"
	}
	s := "telegram bot <secret> via " + d.APIURL
	if d.ChatID != "" {
		s += " to chat " + d.ChatID
	}
	return s
}

// GoString is String, so that %#v does not print the token either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
