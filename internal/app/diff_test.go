package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
)

const diffOld = `destinations:
  crm: {kind: http, url: "https://crm.example.com/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
rules:
  - name: to-crm
    when: direction == "received"
    actions: [{http: {destination: crm, url: "/m/{{ message.id }}", body: {text: "{{ text }}"}}}]
  - name: note
    when: "true"
    actions: [{log: {message: "note {{ message.id }}"}}]
  - name: going-away
    when: type == "image"
    actions: [{log: {message: "image"}}]
`

const diffNew = `destinations:
  crm: {kind: http, url: "https://crm.example.com/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
rules:
  - name: to-crm
    when: direction == "received"
    actions: [{http: {destination: crm, url: "/m/{{ message.id }}", body: {text: "{{ upper(text) }}"}}}]
  - name: note
    when: "true"
    actions: [{log: {message: "note {{ message.id }}"}}]
  - name: sent-too
    when: direction == "sent"
    actions: [{log: {message: "sent {{ message.id }}"}}]
`

func (s *service) diff(t *testing.T, query string, files ...app.DiffFile) (int, []byte) {
	t.Helper()
	body, err := json.Marshal(app.DiffRequest{Files: files})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.base+"/api/diff"+query, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, buf.Bytes()
}

// TestDiffReplaysStoredEvents: the stored events are planned with the
// running and the new rules; added, removed and re-rendered actions are
// reported per event, secrets redacted, and nothing is stored or sent.
func TestDiffReplaysStoredEvents(t *testing.T) {
	svc := start(t, diffOld, func(cfg *app.Config) { cfg.LookupEnv = canaryEnv })
	for _, name := range []string{"received-chat.json", "sent-chat.json", "received-image.json"} {
		status, _ := svc.post(t, readPayload(t, name))
		require.Equal(t, http.StatusAccepted, status, name)
	}
	waitFor(t, func() bool { q := svc.status(t).Queue; return q.Events == 3 && q.BacklogBytes == 0 })
	var before []app.DeliveryView
	svc.api(t, http.MethodGet, "/api/deliveries?limit=1000", &before)

	status, body := svc.diff(t, "?since=1h", app.DiffFile{Name: "new.yaml", Content: diffNew})
	require.Equal(t, http.StatusOK, status, string(body))
	require.NotContains(t, string(body), canary)
	var rep app.DiffReport
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Equal(t, svc.app.Rules().Version, rep.Running)
	require.NotEqual(t, rep.Running, rep.New)
	require.Equal(t, 3, rep.Events)
	require.Equal(t, 3, rep.Changed)
	byID := map[int64]app.EventDiff{}
	for _, d := range rep.Diffs {
		byID[d.EventID] = d
	}
	// Event 1, a received chat: the CRM body is rendered differently.
	chat := byID[1]
	require.Contains(t, chat.Summary, "received chat")
	require.Empty(t, chat.Added)
	require.Empty(t, chat.Removed)
	require.Len(t, chat.Changed, 1)
	c := chat.Changed[0]
	require.Equal(t, "to-crm", c.Rule)
	require.Equal(t, "http", c.Kind)
	require.Equal(t, "crm", c.Destination)
	require.Contains(t, string(c.Old), "***", "the token is redacted")
	require.NotEqual(t, string(c.Old), string(c.New))
	// Event 2, a sent chat: a new rule adds an action.
	require.Len(t, byID[2].Added, 1)
	require.Equal(t, "sent-too", byID[2].Added[0].Rule)
	require.Empty(t, byID[2].Added[0].Old)
	require.Contains(t, string(byID[2].Added[0].New), "sent ")
	// Event 3, a received image: a rule is gone, the CRM body changes.
	require.Len(t, byID[3].Removed, 1)
	require.Equal(t, "going-away", byID[3].Removed[0].Rule)
	require.Len(t, byID[3].Changed, 1)

	// Nothing was stored or sent.
	var after []app.DeliveryView
	svc.api(t, http.MethodGet, "/api/deliveries?limit=1000", &after)
	require.Equal(t, len(before), len(after))
	require.Equal(t, int64(3), svc.status(t).Queue.Events)

	// The same rules: nothing changes. A short period: no events.
	status, body = svc.diff(t, "", app.DiffFile{Name: "same.yaml", Content: diffOld})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Equal(t, 3, rep.Events)
	require.Zero(t, rep.Changed)
	time.Sleep(5 * time.Millisecond)
	status, body = svc.diff(t, "?since=1ms", app.DiffFile{Name: "new.yaml", Content: diffNew})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Zero(t, rep.Events)

	// ?limit lists fewer events and says so.
	status, body = svc.diff(t, "?limit=1", app.DiffFile{Name: "new.yaml", Content: diffNew})
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Len(t, rep.Diffs, 1)
	require.Equal(t, 3, rep.Changed)
	require.True(t, rep.Truncated)
}

func TestDiffRefusesInvalidRules(t *testing.T) {
	svc := start(t, logRule("a"), nil)
	status, body := svc.diff(t, "", app.DiffFile{Name: "new.yaml", Content: "rules:\n  - name: a\n    when: direction == 5\n    actions: [{log: {message: x}}]\n"})
	require.Equal(t, http.StatusUnprocessableEntity, status)
	var out struct {
		Error  string
		Errors []string
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Equal(t, []string{"new.yaml:3:21: invalid operation: == (mismatched types string and int): direction is a string, compare it with \"5\""}, out.Errors)

	status, _ = svc.diff(t, "?since=yesterday", app.DiffFile{Name: "new.yaml", Content: logRule("a")})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = svc.diff(t, "")
	require.Equal(t, http.StatusBadRequest, status)
}

// TestDiffKeepsConversationState: the replay goes through the conversation
// engine, so a throttle the new rules add drops the repeats in a chat, and
// what the rules see of `chat` is what the dispatcher saw.
func TestDiffKeepsConversationState(t *testing.T) {
	svc := start(t, `rules:
  - name: each
    when: direction == "received"
    actions: [{log: {message: "{{ message.id }} n={{ chat.received_count }}"}}]
`, nil)
	chat := readPayload(t, "received-chat.json")
	for _, id := range []string{"A1", "A2", "A3"} {
		body := bytes.Replace(chat, []byte(`"3EB0A1B2C3D4E5F60718"`), []byte(`"`+id+`"`), 1)
		status, _ := svc.post(t, body)
		require.Equal(t, http.StatusAccepted, status)
	}
	waitFor(t, func() bool { q := svc.status(t).Queue; return q.Events == 3 && q.BacklogBytes == 0 })
	status, body := svc.diff(t, "?since=1h", app.DiffFile{Name: "new.yaml", Content: `rules:
  - name: each
    when: direction == "received"
    throttle: {key: "{{ chat_id }}", per: 1h}
    actions: [{log: {message: "{{ message.id }} n={{ chat.received_count }}"}}]
`})
	require.Equal(t, http.StatusOK, status, string(body))
	var rep app.DiffReport
	require.NoError(t, json.Unmarshal(body, &rep))
	require.Equal(t, 3, rep.Events)
	require.Equal(t, 2, rep.Changed, "the first acts as before; the two repeats are throttled")
	for _, d := range rep.Diffs {
		require.Len(t, d.Removed, 1)
		require.Empty(t, d.Added)
		require.Empty(t, d.Changed, "the state the rules saw is the same on both sides")
	}
	require.Contains(t, string(rep.Diffs[1].Removed[0].Old), "n=3")
}

// TestDiffPostedRulesReadNoServerFile: rules posted to /api/diff cannot
// make the service read one of its files (a tests: file or a payload
// path), so none of a file's content can come back in an error.
func TestDiffPostedRulesReadNoServerFile(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(secretFile, []byte("s3cret-file-content: [x"), 0o600))
	svc := start(t, diffOld, func(cfg *app.Config) { cfg.LookupEnv = canaryEnv })
	for _, posted := range []string{
		"rules: []\ntests: " + secretFile + "\n",
		"rules: [{name: r, when: 'true', actions: [{log: {message: x}}]}]\ntests: [{name: t, payload: " + secretFile + ", expect: [r]}]\n",
		// A list file, and a key file a destination's sender would read.
		"lists: {vip: {file: " + secretFile + "}}\nrules: [{name: r, when: 'sender.phone in lists.vip', actions: [{log: {message: x}}]}]\n",
		"destinations: {sheet: {kind: sheets, credentials_file: " + secretFile + ", spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms, range: A1}}\n" +
			"rules: [{name: r, when: 'true', actions: [{sheets: {destination: sheet, cells: [x]}}]}]\n",
	} {
		status, body := svc.diff(t, "", app.DiffFile{Name: "new.yaml", Content: posted})
		require.Equal(t, http.StatusUnprocessableEntity, status, string(body))
		require.NotContains(t, string(body), "s3cret-file-content")
		require.Contains(t, string(body), "rules sent to the service cannot name files")
	}
}

// TestDiffPostedTestsFile: a tests: file posted with the rules is used.
func TestDiffPostedTestsFile(t *testing.T) {
	svc := start(t, diffOld, func(cfg *app.Config) { cfg.LookupEnv = canaryEnv })
	status, body := svc.diff(t, "",
		app.DiffFile{Name: "dir/new.yaml", Content: "rules: [{name: r, when: 'true', actions: [{log: {message: x}}]}]\ntests: new.tests.yaml\n"},
		app.DiffFile{Name: "dir/new.tests.yaml", Content: "[{name: t, payload: {direction: sent}, expect: [nope]}]\n"})
	require.Equal(t, http.StatusUnprocessableEntity, status, string(body))
	require.Contains(t, string(body), `no rule is named \"nope\"`, "the posted tests file was read")
}
