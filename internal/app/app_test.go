package app_test

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/testsmtp"
)

const canary = "secret-canary-7f3a9c"

func liveRules(crm, slack, smtpAddr string) string {
	return fmt.Sprintf(`
destinations:
  crm: {kind: http, url: "%s/api", headers: {Authorization: "Bearer ${CRM_TOKEN}"}}
  team: {kind: slack, webhook_url: "%s/services/T0/B0/${SLACK_PATH}"}
  mail: {kind: email, smtp: "%s", from: "Switchboard <bot@example.com>", tls: none}
rules:
  - name: everything-to-crm
    when: "true"
    actions:
      - http:
          destination: crm
          url: "/events/{{ message.id }}"
          query: {dir: "{{ direction }}"}
          body: {id: "{{ message.id }}", text: "{{ text }}", from: "{{ sender.wa_name }}", at: "{{ time }}", n: "{{ len(participants) }}"}
  - name: received-to-slack
    when: direction == "received"
    actions:
      - slack: {destination: team, text: "{{ sender.wa_name }} in {{ chat_title }}: {{ text }}"}
  - name: errors-by-email
    when: message.is_error
    actions:
      - email: {destination: mail, to: ["leads@example.com"], subject: "Failed: {{ chat_title }}", text: "{{ text }}"}
  - name: log-all
    when: "true"
    actions:
      - log: {message: "{{ type }} {{ text }}"}
`, crm, slack, smtpAddr)
}

func canaryEnv(k string) (string, bool) {
	switch k {
	case "CRM_TOKEN":
		return canary, true
	case "SLACK_PATH":
		return canary + "-slack", true
	}
	return "", false
}

// TestLiveMatchesDryrun posts every sample payload to an in-process
// service and checks that what the loopback destinations receive is
// exactly what dry-run prints for the same payloads (dry-run and live share
// one path; only the sink differs).
func TestLiveMatchesDryrun(t *testing.T) {
	crm := newSink(t, nil)
	slack := newSink(t, nil)
	smtpd := testsmtp.Start(t, "", "")
	svc := start(t, liveRules(crm.URL, slack.URL, smtpd.Addr), func(c *app.Config) { c.LookupEnv = canaryEnv })

	type wire struct {
		Method string
		URL    string
		Header map[string]string
		Body   string
	}
	var wantHTTP []wire
	var wantMail []map[string]any
	rs := svc.app.Rules()
	for _, f := range samples(t) {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		rep := dryrun.Run(rs, filepath.Base(f), data, dryrun.Options{})
		require.Empty(t, rep.Error)
		for _, m := range rep.Matched {
			for _, a := range m.Actions {
				require.Empty(t, a.Error, "%s %s", f, m.Rule)
				switch a.Kind {
				case "http", "slack":
					var w wire
					require.NoError(t, json.Unmarshal(a.Request, &w))
					wantHTTP = append(wantHTTP, w)
				case "email":
					var w map[string]any
					require.NoError(t, json.Unmarshal(a.Request, &w))
					wantMail = append(wantMail, w)
				}
			}
		}
		status, _ := svc.post(t, data)
		require.Equal(t, http.StatusAccepted, status, f)
	}
	require.NotEmpty(t, wantHTTP)
	require.Len(t, wantMail, 1)
	waitFor(t, func() bool { return len(crm.requests())+len(slack.requests()) >= len(wantHTTP) })
	mails := smtpd.Wait(1, 30e9)

	var got []wire
	keys := map[string]bool{}
	for _, s := range []*sink{crm, slack} {
		for _, r := range s.requests() {
			w := wire{Method: r.Method, URL: s.URL + r.Path, Header: map[string]string{}, Body: rs.Redact(r.Body)}
			w.URL = rs.Redact(w.URL)
			key := r.Header.Get("Idempotency-Key")
			require.Regexp(t, `^\d+:[a-z-]+:\d+$`, key)
			require.False(t, keys[key], "delivered twice: %s", key)
			keys[key] = true
			got = append(got, w)
		}
	}
	require.Len(t, got, len(wantHTTP))
	// Every expected request arrived exactly as dry-run printed it: same
	// method, URL and body, and every header dry-run shows.
	for _, want := range wantHTTP {
		found := false
		for _, s := range []*sink{crm, slack} {
			for _, r := range s.requests() {
				if r.Method != want.Method || rs.Redact(s.URL+r.Path) != want.URL || rs.Redact(r.Body) != want.Body {
					continue
				}
				for k, v := range want.Header {
					require.Equal(t, v, rs.Redact(r.Header.Get(k)), "header %s of %s", k, want.URL)
				}
				found = true
			}
		}
		require.True(t, found, "no request arrived as dry-run printed it: %+v", want)
	}
	m := mails[0]
	require.Equal(t, []string{"leads@example.com"}, m.To)
	h, err := m.Header()
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	require.NoError(t, err)
	require.Equal(t, wantMail[0]["subject"], subject)

	// The secrets reached the destinations, and nowhere else.
	require.Contains(t, crm.requests()[0].Header.Get("Authorization"), canary)
	require.NotContains(t, svc.logs.String(), canary)
	resp, err := http.Get(svc.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var metrics strings.Builder
	_, _ = fmt.Fprint(&metrics, resp.Body)
	require.NotContains(t, metrics.String(), canary)
	require.NotContains(t, svc.logs.String(), "test-token-abcdef")
}

// TestAnswersWhileDestinationsHang: the endpoint never waits for rules or
// destinations: with the only destination hanging, every post is still
// answered 202.
func TestAnswersWhileDestinationsHang(t *testing.T) {
	release := make(chan struct{})
	crm := newSink(t, func(int, *http.Request) int { <-release; return 0 })
	svc := start(t, liveRules(crm.URL, crm.URL, "127.0.0.1:1"), func(c *app.Config) {
		c.LookupEnv = canaryEnv
		c.SendTimeout = 60e9
	})
	t.Cleanup(func() { close(release) }) // runs before the service stops
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Replace(string(readPayload(t, "received-chat.json")), "3EB0", fmt.Sprintf("X%03d", i), 1)
			resp, err := http.Post(svc.hook, "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestDestinationDownThenBack: 500s and refused connections for a while,
// then recovery: everything is delivered, nothing twice.
func TestDestinationDownThenBack(t *testing.T) {
	var mu sync.Mutex
	down := true
	crm := newSink(t, func(n int, _ *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusInternalServerError
		}
		return 0
	})
	svc := start(t, `
destinations:
  crm: {kind: http, url: "`+crm.URL+`"}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: crm, url: "/in", body: {id: "{{ message.id }}"}}}]
`, nil)
	ids := map[string]bool{}
	for i := range 20 {
		id := fmt.Sprintf("DOWN%03d", i)
		ids[id] = true
		status, _ := svc.post(t, []byte(`{"direction":"received","message":{"id":"`+id+`","type":"chat"}}`))
		require.Equal(t, http.StatusAccepted, status)
	}
	// Three failures in a row pause the destination; the other jobs wait
	// for a probe without being tried (and without spending attempts).
	waitFor(t, func() bool {
		st := svc.status(t)
		return len(st.Destinations) == 1 && st.Destinations[0].Destination == "crm" && st.Destinations[0].Paused
	})
	require.Equal(t, 1.0, svc.metric(t, `switchboard_destination_paused{destination="crm"}`))
	require.Less(t, len(crm.requests()), 20, "not every job was sent to the paused destination")
	mu.Lock()
	down = false
	mu.Unlock()
	delivered := func() map[string]int {
		out := map[string]int{}
		for _, r := range crm.requests() {
			if r.Header.Get("Idempotency-Key") == "" {
				continue
			}
			var b struct{ ID string }
			_ = json.Unmarshal([]byte(r.Body), &b)
			out[b.ID]++
		}
		return out
	}
	okCount := func() int {
		var ds []app.DeliveryView
		svc.api(t, http.MethodGet, "/api/deliveries?state=done&limit=100", &ds)
		return len(ds)
	}
	waitFor(t, func() bool { return okCount() == 20 })
	for id := range ids {
		require.Positive(t, delivered()[id], id)
	}
	var ds []app.DeliveryView
	svc.api(t, http.MethodGet, "/api/deliveries?limit=100", &ds)
	for _, d := range ds {
		require.Equal(t, "done", d.State)
		require.GreaterOrEqual(t, d.Attempts, 1)
	}
	require.Empty(t, svc.status(t).Destinations, "healthy again")
}

// TestHostileTextIsEscapedAtTheSinks: <!channel> never reaches Slack
// unescaped, and CR/LF in a WhatsApp name never reaches an email header.
func TestHostileTextIsEscapedAtTheSinks(t *testing.T) {
	slack := newSink(t, nil)
	smtpd := testsmtp.Start(t, "", "")
	svc := start(t, `
destinations:
  team: {kind: slack, webhook_url: "`+slack.URL+`/services/T/B/x"}
  mail: {kind: email, smtp: "`+smtpd.Addr+`", from: "bot@example.com", tls: none}
rules:
  - name: s
    when: "true"
    actions:
      - slack: {destination: team, text: "<!here> {{ sender.wa_name }}: {{ text }}"}
      - email: {destination: mail, to: ["leads@example.com"], subject: "From {{ sender.wa_name }}", text: "{{ text }}"}
`, nil)
	status, _ := svc.post(t, []byte(`{"direction":"received","chat_title":"x","message":{"id":"H1","type":"chat","text":"<!channel> <@U024BE7LH> <https://evil.example|Verify>"},"sender":{"phone":"1","wa_name":"Eve\r\nBcc: victim@evil.example"}}`))
	require.Equal(t, http.StatusAccepted, status)
	waitFor(t, func() bool { return len(slack.requests()) == 1 })
	body := slack.requests()[0].Body
	require.NotContains(t, body, "<!channel>")
	require.NotContains(t, body, "<@U024BE7LH>")
	require.NotContains(t, body, "<https://evil.example")
	require.Contains(t, body, "&lt;!channel&gt;")
	require.Contains(t, body, "<!here>", "the rule author's own mention stays")
	var sb map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &sb))
	require.Equal(t, false, sb["unfurl_links"])

	mails := smtpd.Wait(1, 30e9)
	require.Len(t, mails, 1)
	require.Equal(t, []string{"leads@example.com"}, mails[0].To)
	h, err := mails[0].Header()
	require.NoError(t, err)
	require.Empty(t, h.Get("Bcc"))
	for _, line := range strings.Split(string(mails[0].Data), "\r\n") {
		require.False(t, strings.HasPrefix(strings.ToLower(line), "bcc:"), line)
	}
}

// TestReloadKeepsRunningRulesOnError: a broken rules file is refused with
// its positions, the running rules stay, and a fixed file is taken.
func TestReloadKeepsRunningRulesOnError(t *testing.T) {
	svc := start(t, "rules:\n  - name: a\n    when: \"true\"\n    actions: [{log: {message: x}}]\n", nil)
	before := svc.app.Rules()
	require.NoError(t, os.WriteFile(svc.rules, []byte("rules:\n  - name: a\n    when: direction == 5\n    actions: [{log: {message: x}}]\n"), 0o644))
	var st app.ReloadStatus
	require.Equal(t, http.StatusUnprocessableEntity, svc.api(t, http.MethodPost, "/-/reload", &st))
	require.False(t, st.OK)
	require.Len(t, st.Errors, 1)
	require.Contains(t, st.Errors[0], "rules.yaml:3:21: invalid operation")
	require.Same(t, before, svc.app.Rules())

	require.NoError(t, os.WriteFile(svc.rules, []byte("rules:\n  - name: b\n    when: \"true\"\n    actions: [{log: {message: y}}]\n"), 0o644))
	require.Equal(t, http.StatusOK, svc.api(t, http.MethodPost, "/-/reload", &st))
	require.True(t, st.OK)
	require.NotSame(t, before, svc.app.Rules())
	require.Equal(t, "b", svc.app.Rules().Rules[0].Name)
}

func TestAdminAPIRequiresToken(t *testing.T) {
	svc := start(t, "rules: []\n", nil)
	for _, p := range []string{"/api/deliveries", "/api/quarantine"} {
		resp, err := http.Get(svc.base + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, err := http.Post(svc.base+"/-/reload", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestQuarantineReplay(t *testing.T) {
	svc := start(t, "rules: []\n", nil)
	status, out := svc.post(t, []byte(`{"direction": 5}`))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, out["error"], "direction")
	var qs []map[string]any
	require.Equal(t, http.StatusOK, svc.api(t, http.MethodGet, "/api/quarantine", &qs))
	require.Len(t, qs, 1)
	// The cause is still there: replay refuses and keeps the body.
	id := fmt.Sprint(qs[0]["ID"])
	var res map[string]any
	require.Equal(t, http.StatusUnprocessableEntity, svc.api(t, http.MethodPost, "/api/quarantine/"+id+"/replay", &res))
}
