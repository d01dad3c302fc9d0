package teams_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// fakeWorkflow is a loopback Teams Workflows trigger ("When a Teams
// webhook request is received"), as Microsoft documents it: POST
// .../triggers/manual/paths/invoke?api-version=...&sp=...&sv=1.0&sig=SIG
// with {"type":"message","attachments":[{"contentType":
// "application/vnd.microsoft.card.adaptive","content":{AdaptiveCard}}]};
// 202 Accepted when the flow starts; errors as {"error":{"code","message"}}:
// 401 for a wrong signature, 400 when the body is not that shape, 429 with
// Retry-After when throttled. It keeps each posted card's text blocks and
// facts as Teams shows them (Markdown read, see readMarkdown).
type fakeWorkflow struct {
	srv *httptest.Server
	sig string

	mu       sync.Mutex
	busy     int
	received []actionstest.Received
	shown    []shownCard
}

type shownCard struct {
	Texts    []string // each TextBlock and fact as shown, "title: value" for facts
	Entities []string // formatting read from the Markdown
}

// path is the trigger's path (the signature is in the query).
const path = "/workflows/0a1b2c3d4e5f/triggers/manual/paths/invoke"

func newFakeWorkflow(t *testing.T, sig string) *fakeWorkflow {
	f := &fakeWorkflow{sig: sig}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the trigger URL with its signature.
func (f *fakeWorkflow) URL() string {
	return f.srv.URL + path + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + f.sig
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func (f *fakeWorkflow) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.received = append(f.received, actionstest.Received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	switch {
	case r.URL.Path != path || r.Method != "POST":
		fail(w, 404, "WorkflowNotFound", "The workflow was not found.")
		return
	case r.URL.Query().Get("sig") != f.sig:
		fail(w, 401, "DirectApiInvalidAuthorizationSignature", "The provided authorization signature is not valid.")
		return
	case f.busy > 0:
		f.busy--
		w.Header().Set("Retry-After", "9")
		fail(w, 429, "WorkflowRequestsThrottled", "Number of requests exceeded the limit.")
		return
	}
	var m struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Type != "message" || len(m.Attachments) != 1 ||
		m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
		m.Attachments[0].Content.Type != "AdaptiveCard" || m.Attachments[0].Content.Version == "" {
		fail(w, 400, "TriggerInputSchemaMismatch", "The input body for trigger 'manual' of type 'Request' did not match its schema definition.")
		return
	}
	var c shownCard
	show := func(s string) string {
		text, ents := readMarkdown(s)
		c.Entities = append(c.Entities, ents...)
		return text
	}
	for _, e := range m.Attachments[0].Content.Body {
		switch e.Type {
		case "TextBlock":
			c.Texts = append(c.Texts, show(e.Text))
		case "FactSet":
			for _, fact := range e.Facts {
				c.Texts = append(c.Texts, show(fact.Title)+": "+show(fact.Value))
			}
		default:
			fail(w, 400, "InvalidCard", fmt.Sprintf("unknown element %q", e.Type))
			return
		}
	}
	f.shown = append(f.shown, c)
	w.WriteHeader(http.StatusAccepted)
}

// readMarkdown reads text as Adaptive Cards' Markdown subset does, and
// returns what shows and the formatting found: a backslash shows the
// character after it; **x** is bold, _x_ and *x* italic, ~~x~~
// strikethrough, `x` code, [t](u) a link, "- ", "+ " or "1. " at a line's
// start a list item, and # at a line's start a heading.
func readMarkdown(s string) (string, []string) {
	var out strings.Builder
	var ents []string
	lineStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte("\\*_`~[]()#|<>-+.", s[i+1]) >= 0:
			i++
			out.WriteByte(s[i])
		case c == '*' && strings.HasPrefix(s[i:], "**"):
			ents = append(ents, "bold")
			i++
		case c == '*' || c == '_':
			ents = append(ents, "italic")
		case c == '~' && strings.HasPrefix(s[i:], "~~"):
			ents = append(ents, "strikethrough")
			i++
		case c == '`':
			ents = append(ents, "code")
		case c == '[' && strings.Contains(s[i:], "]("):
			end := strings.Index(s[i:], "](")
			close := strings.IndexByte(s[i+end:], ')')
			if close < 0 {
				out.WriteByte(c)
				continue
			}
			ents = append(ents, "link "+s[i+end+2:i+end+close])
			out.WriteString(s[i+1 : i+end])
			i += end + close
		case lineStart && (c == '-' || c == '+') && i+1 < len(s) && s[i+1] == ' ':
			ents = append(ents, "list")
			i++
		case lineStart && c >= '0' && c <= '9' && strings.Contains(s[i:min(len(s), i+4)], ". "):
			j := strings.Index(s[i:], ". ")
			if strings.Trim(s[i:i+j], "0123456789") == "" {
				ents = append(ents, "numbered list")
				i += j + 1
				continue
			}
			out.WriteByte(c)
		case lineStart && c == '#':
			ents = append(ents, "heading")
		default:
			out.WriteByte(c)
		}
		lineStart = c == '\n'
	}
	return out.String(), ents
}
