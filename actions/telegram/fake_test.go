package telegram_test

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// fakeBot is a loopback Bot API with sendMessage as core.telegram.org/bots/api
// describes it: POST /bot<token>/sendMessage with a JSON body; answers
// {"ok":true,"result":Message}, or {"ok":false,"error_code":N,
// "description":"..."} with the same HTTP status: 401 for an unknown
// token, 400 for an unknown chat or text it cannot parse in the parse
// mode, 429 with parameters.retry_after when busy. It keeps each
// delivered message as Telegram would show it: its plain text and its
// formatting entities.
type fakeBot struct {
	srv   *httptest.Server
	token string
	chats map[string]bool

	mu       sync.Mutex
	busy     int // answer 429 this many times
	got      []delivered
	received []actionstest.Received
}

// delivered is a message as a Telegram client would show it.
type delivered struct {
	ChatID   string
	Text     string   // the visible text
	Entities []string // formatting, such as "bold" or "text_link https://x"
	Preview  bool
}

func newFakeBot(t *testing.T, token string) *fakeBot {
	f := &fakeBot{token: token, chats: map[string]bool{"-1001234567890": true, "42": true, "@salesteam": true}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBot) fail(w http.ResponseWriter, code int, desc string, params map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if params != nil {
		body["parameters"] = params
	}
	json.NewEncoder(w).Encode(body)
}

func (f *fakeBot) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.Path
	if r.Method != "POST" || !strings.HasSuffix(path, "/sendMessage") {
		f.fail(w, 404, "Not Found", nil)
		return
	}
	if strings.TrimSuffix(strings.TrimPrefix(path, "/bot"), "/sendMessage") != f.token {
		f.fail(w, 401, "Unauthorized", nil)
		return
	}
	if f.busy > 0 {
		f.busy--
		f.fail(w, 429, "Too Many Requests: retry after 3", map[string]any{"retry_after": 3})
		return
	}
	var m struct {
		ChatID             string `json:"chat_id"`
		Text               string `json:"text"`
		ParseMode          string `json:"parse_mode"`
		LinkPreviewOptions *struct {
			IsDisabled bool `json:"is_disabled"`
		} `json:"link_preview_options"`
	}
	body, _ := io.ReadAll(r.Body)
	f.received = append(f.received, actionstest.Received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	if err := json.Unmarshal(body, &m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		f.fail(w, 400, "Bad Request: message text is empty", nil)
		return
	}
	if !f.chats[m.ChatID] {
		f.fail(w, 400, "Bad Request: chat not found", nil)
		return
	}
	d := delivered{ChatID: m.ChatID, Preview: m.LinkPreviewOptions == nil || !m.LinkPreviewOptions.IsDisabled}
	var err error
	switch m.ParseMode {
	case "":
		d.Text = m.Text
	case "HTML":
		d.Text, d.Entities, err = parseHTML(m.Text)
	case "MarkdownV2":
		d.Text, d.Entities, err = parseMarkdownV2(m.Text)
	default:
		err = fmt.Errorf("unsupported parse_mode")
	}
	if err != nil {
		f.fail(w, 400, "Bad Request: can't parse entities: "+err.Error(), nil)
		return
	}
	f.got = append(f.got, d)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"chat":{"id":%q},"date":1700000000,"text":%q}}`, len(f.got), m.ChatID, d.Text)
}

// htmlTag is a tag of Telegram's HTML mode.
var htmlTag = regexp.MustCompile(`^<(/?)(b|strong|i|em|u|ins|s|strike|del|code|pre|tg-spoiler|blockquote|a)(\s+href="[^"]*")?>`)

// parseHTML reads text as Telegram's HTML mode does: the supported tags
// are formatting, the entities &lt; &gt; &amp; &quot; and numeric ones are
// characters, and any other < or & is an error.
func parseHTML(s string) (string, []string, error) {
	var text strings.Builder
	var ents []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			m := htmlTag.FindStringSubmatch(s[i:])
			if m == nil {
				return "", nil, fmt.Errorf("unsupported start tag at byte offset %d", i)
			}
			if m[1] == "" {
				e := m[2]
				if m[3] != "" {
					e += " " + html.UnescapeString(strings.TrimSuffix(strings.SplitN(m[3], `"`, 2)[1], `"`))
				}
				ents = append(ents, e)
			}
			i += len(m[0])
		case '&':
			j := strings.IndexByte(s[i:], ';')
			if j < 0 {
				return "", nil, fmt.Errorf("unclosed entity at byte offset %d", i)
			}
			ent := s[i : i+j+1]
			dec := html.UnescapeString(ent)
			if dec == ent || !(strings.HasPrefix(ent, "&#") || ent == "&lt;" || ent == "&gt;" || ent == "&amp;" || ent == "&quot;") {
				return "", nil, fmt.Errorf("unsupported entity at byte offset %d", i)
			}
			text.WriteString(dec)
			i += j + 1
		case '>':
			text.WriteByte('>')
			i++
		default:
			text.WriteByte(s[i])
			i++
		}
	}
	return text.String(), ents, nil
}

// parseMarkdownV2 reads text as MarkdownV2: \ escapes any character;
// unescaped * _ ~ | ` toggle formatting, [text](url) is a link, and any
// other of _*[]()~`>#+-=|{}.! unescaped is an error ("Character '.' is
// reserved and must be escaped with the preceding '\'").
func parseMarkdownV2(s string) (string, []string, error) {
	var text strings.Builder
	var ents []string
	open := map[string]bool{}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs):
			i++
			text.WriteRune(rs[i])
		case c == '*' || c == '_' || c == '~' || c == '|' || c == '`':
			name := map[rune]string{'*': "bold", '_': "italic", '~': "strikethrough", '|': "spoiler", '`': "code"}[c]
			if c == '_' && i+1 < len(rs) && rs[i+1] == '_' {
				name = "underline"
				i++
			}
			if c == '|' {
				if i+1 >= len(rs) || rs[i+1] != '|' {
					return "", nil, fmt.Errorf("Character '|' is reserved and must be escaped with the preceding '\\'")
				}
				i++
			}
			if !open[name] {
				ents = append(ents, name)
			}
			open[name] = !open[name]
		case c == '[':
			end := strings.Index(string(rs[i:]), "](")
			if end < 0 {
				return "", nil, fmt.Errorf("Character '[' is reserved and must be escaped with the preceding '\\'")
			}
			label := []rune(string(rs[i:])[1:end])
			rest := string(rs[i:])[end+2:]
			close := strings.IndexByte(rest, ')')
			if close < 0 {
				return "", nil, fmt.Errorf("Can't find end of Url")
			}
			lt, _, err := parseMarkdownV2(string(label))
			if err != nil {
				return "", nil, err
			}
			text.WriteString(lt)
			ents = append(ents, "text_link "+rest[:close])
			i += len([]rune(string(rs[i:])[:end+2+close+1])) - 1
		case strings.ContainsRune("[]()>#+-={}.!", c):
			return "", nil, fmt.Errorf("Character '%c' is reserved and must be escaped with the preceding '\\'", c)
		default:
			text.WriteRune(c)
		}
	}
	for name, o := range open {
		if o {
			return "", nil, fmt.Errorf("Can't find end of %s entity", name)
		}
	}
	return text.String(), ents, nil
}
