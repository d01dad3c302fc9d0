package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/app"
	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore/pgtest"
)

// childLeaseTTL is the evaluation lease time of the cluster tests'
// instances: short, so that a takeover shows within the test.
const childLeaseTTL = 2 * time.Second

// instance is one switchboard process of a cluster test.
type instance struct {
	name string
	cmd  *exec.Cmd
	base string
}

// startInstance runs the service on dir's rules.yaml in a child process
// that uses the shared store at url under the given name.
func startInstance(t *testing.T, dir, url, name string) *instance {
	t.Helper()
	_ = os.Remove(filepath.Join(dir, "addr"+name))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_CHILD="+dir, "SWITCHBOARD_TEST_CHILD_STORE="+url, "SWITCHBOARD_TEST_CHILD_INSTANCE="+name)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	in := &instance{name: name, cmd: cmd}
	t.Cleanup(func() { in.stop() })
	waitFor(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "addr"+name))
		in.base = "http://" + string(b)
		return err == nil
	})
	return in
}

func (in *instance) kill() {
	if in.cmd.ProcessState == nil {
		_ = in.cmd.Process.Signal(syscall.SIGKILL)
		_ = in.cmd.Wait()
	}
}

func (in *instance) stop() {
	if in.cmd.ProcessState == nil {
		_ = in.cmd.Process.Signal(syscall.SIGTERM)
		_ = in.cmd.Wait()
	}
}

func (in *instance) status(t *testing.T) (app.StatusReport, bool) {
	req, _ := http.NewRequest(http.MethodGet, in.base+"/status", nil)
	req.Header.Set("Authorization", "Bearer kill-admin-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return app.StatusReport{}, false
	}
	defer resp.Body.Close()
	var st app.StatusReport
	return st, json.NewDecoder(resp.Body).Decode(&st) == nil && st.Cluster != nil
}

// keySink records every delivery by path and body id, with the
// Idempotency-Key it came with.
type keySink struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]map[string]int // "/path id" -> key -> deliveries
}

func newKeySink(t *testing.T) *keySink {
	s := &keySink{keys: map[string]map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ ID string }
		data, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(data, &b)
		what := r.URL.Path + " " + b.ID
		s.mu.Lock()
		if s.keys[what] == nil {
			s.keys[what] = map[string]int{}
		}
		s.keys[what][r.Header.Get("Idempotency-Key")]++
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

// acted returns, per "/path id", the number of distinct idempotency keys
// it was delivered under (1: one action, however many resends).
func (s *keySink) acted(prefix string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for what, keys := range s.keys {
		if strings.HasPrefix(what, prefix) {
			out[what] = len(keys)
		}
	}
	return out
}

const clusterRules = `
destinations:
  sink: {kind: http, url: "%s"}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: sink, url: "/fwd", body: {id: "{{ message.id }}"}}}]
  - name: late
    when: direction == "received" && chat.awaiting_reply
    after: 2s
    actions: [{http: {destination: sink, url: "/late", body: {id: "{{ message.id }}"}}}]
  - name: tick
    schedule: "@every 1s"
    when: "true"
    actions: [{http: {destination: sink, url: "/tick", body: {id: "tick"}}}]
`

// chatMessage is message k of a chat, with its own message time, so that
// evaluating the same messages elsewhere decides the same.
func chatMessage(base int64, chat string, k int) []byte {
	dir := "received"
	if k%3 == 2 {
		dir = "sent" // an answer now and then
	}
	return fmt.Appendf(nil, `{"direction":%q,"chat_id":%q,"message":{"id":"%s-%d","type":"chat","text":"hi %d"},"timestamp":"%d"}`,
		dir, chat, chat, k, k, base+int64(k))
}

// TestClusterKill9 runs three instances on one database with the load
// spread over them, kills the one evaluating with SIGKILL mid-load and
// restarts it: every message answered 202 is acted on, each action and
// each delayed check under one idempotency key (a resend only repeats
// it), each scheduled run once, and every chat ends in the state a single
// SQLite instance reaches from the same messages.
func TestClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	url := pgtest.Database(t)
	sink := newKeySink(t)
	dir := t.TempDir()
	rules := fmt.Sprintf(clusterRules, sink.URL)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules), 0o644))
	names := []string{"a", "b", "c"}
	var mu sync.Mutex
	live := map[string]*instance{}
	for _, n := range names {
		live[n] = startInstance(t, dir, url, n)
	}
	pick := func(i int) *instance {
		mu.Lock()
		defer mu.Unlock()
		for k := range len(names) {
			if in := live[names[(i+k)%len(names)]]; in != nil {
				return in
			}
		}
		return nil
	}

	// Each client owns its chats and posts their messages in order, each
	// to the next instance, moving on to another one until answered: a
	// load balancer's retry (the message's dedupe key makes it safe).
	base := time.Now().Add(-time.Hour).Unix()
	var (
		stop  atomic.Bool
		wg    sync.WaitGroup
		sent  = map[string]int{} // chat -> messages answered
		sentM sync.Mutex
		posts atomic.Int64
	)
	for w := range 6 {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			chats := []string{fmt.Sprintf("w%dc0@c.us", w), fmt.Sprintf("w%dc1@c.us", w)}
			for k := 0; !stop.Load(); k++ {
				for _, chat := range chats {
					body := chatMessage(base, chat, k)
					for try := 0; ; try++ {
						in := pick(w + try)
						resp, err := client.Post(in.base+"/hooks/cooby/kill-token-0123456789", "application/json", strings.NewReader(string(body)))
						if err == nil {
							resp.Body.Close()
							if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
								break
							}
						}
						time.Sleep(20 * time.Millisecond)
					}
					posts.Add(1)
					sentM.Lock()
					sent[chat] = k + 1
					sentM.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	var evaluator string
	waitFor(t, func() bool {
		st, ok := pick(0).status(t)
		evaluator = st.Cluster.Evaluator
		return ok && evaluator != ""
	})
	require.Len(t, func() []pgstore.InstanceInfo { st, _ := pick(0).status(t); return st.Cluster.Instances }(), 3, "/status lists the instances")
	mu.Lock()
	victim := live[evaluator]
	delete(live, evaluator)
	mu.Unlock()
	victim.kill()
	t.Logf("killed %s, the evaluator, after %d messages", evaluator, posts.Load())
	var takeover string
	waitFor(t, func() bool {
		st, ok := pick(0).status(t)
		takeover = st.Cluster.Evaluator
		return ok && takeover != "" && takeover != evaluator
	})
	time.Sleep(time.Second)
	restarted := startInstance(t, dir, url, evaluator)
	mu.Lock()
	live[evaluator] = restarted
	mu.Unlock()
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d messages answered; %s took evaluation over", posts.Load(), takeover)

	// Wait until everything is evaluated, checked and delivered.
	db, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer db.Close(context.Background())
	settled := func() bool {
		var open int64
		err := db.QueryRow(context.Background(), `SELECT
			(SELECT COUNT(*) FROM events WHERE NOT evaluated) +
			(SELECT COUNT(*) FROM timers) +
			(SELECT COUNT(*) FROM jobs WHERE state IN ('pending', 'retry'))`).Scan(&open)
		return err == nil && open == 0
	}
	waitFor(t, settled)
	for _, in := range live {
		in.stop()
	}

	var msgs []string
	for chat, n := range sent {
		for k := range n {
			msgs = append(msgs, fmt.Sprintf("%s-%d", chat, k))
		}
	}
	fwd := sink.acted("/fwd ")
	for _, m := range msgs {
		require.Equal(t, 1, fwd["/fwd "+m], "message %s acted on once (one idempotency key)", m)
	}
	require.Len(t, fwd, len(msgs), "nothing else was acted on")
	late := sink.acted("/late ")
	for what, n := range late {
		require.Equal(t, 1, n, "delayed check %s ran once", what)
	}
	var runs, tickJobs int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM runs WHERE rule = 'tick'),
		(SELECT COUNT(*) FROM jobs WHERE rule = 'tick')`).Scan(&runs, &tickJobs))
	require.Positive(t, runs)
	require.Equal(t, runs, tickJobs, "one job per scheduled run")
	require.Len(t, sink.acted("/tick "), 1)
	sink.mu.Lock()
	require.Len(t, sink.keys["/tick tick"], runs, "every scheduled run delivered, each under its own key")
	sink.mu.Unlock()
	var evaluators int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT COUNT(DISTINCT evaluated_by) FROM events`).Scan(&evaluators))
	t.Logf("%d scheduled runs; events evaluated by %d instances; %d delayed checks acted", runs, evaluators, len(late))

	// The same messages, chat by chat in order, through one SQLite instance.
	single := newKeySink(t)
	data := t.TempDir()
	svc := start(t, fmt.Sprintf(clusterRules, single.URL), func(c *app.Config) { c.Data = data })
	chats := make([]string, 0, len(sent))
	for chat := range sent {
		chats = append(chats, chat)
	}
	sort.Strings(chats)
	var replay sync.WaitGroup
	for _, chat := range chats { // each chat in order, the chats at once
		replay.Go(func() {
			for k := range sent[chat] {
				code, _ := svc.post(t, chatMessage(base, chat, k))
				require.Equal(t, http.StatusAccepted, code)
			}
		})
	}
	replay.Wait()
	// (Which delayed checks act depends on whether a chat's answer was
	// evaluated before the check came due, a matter of timing on one
	// instance as on three; that each ran once is checked above.)
	waitFor(t, func() bool { return len(single.acted("/fwd ")) == len(msgs) })
	time.Sleep(500 * time.Millisecond)
	svc.stop()

	lite, err := store.Open(context.Background(), data, store.Options{})
	require.NoError(t, err)
	defer lite.Close()
	want, err := lite.AllChats(context.Background(), 1000)
	require.NoError(t, err)
	require.Len(t, want, 12, "every client's two chats")
	pg, err := pgstore.Open(context.Background(), url, pgstore.Options{Instance: "reader"})
	require.NoError(t, err)
	defer pg.Close()
	got, err := pg.AllChats(context.Background(), 1000)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for id, w := range want {
		require.JSONEq(t, string(w.State), string(got[id].State), "chat %s", id)
		require.Equal(t, w.Pending, got[id].Pending, "chat %s", id)
	}
}

// TestClusterTakeover stops the evaluating instance with SIGKILL: the
// other takes the evaluation lease over within the lease time (plus one
// try interval) and goes on evaluating, and no message is evaluated twice.
func TestClusterTakeover(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes")
	}
	url := pgtest.Database(t)
	sink := newKeySink(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(fmt.Sprintf(`
destinations:
  sink: {kind: http, url: "%s"}
rules:
  - name: fwd
    when: "true"
    actions: [{http: {destination: sink, url: "/fwd", body: {id: "{{ message.id }}"}}}]
`, sink.URL)), 0o644))
	ins := map[string]*instance{"a": startInstance(t, dir, url, "a")}
	var holder string
	waitFor(t, func() bool { st, ok := ins["a"].status(t); holder = st.Cluster.Evaluator; return ok && holder == "a" })
	ins["b"] = startInstance(t, dir, url, "b")
	post := func(in *instance, id string) {
		body := fmt.Sprintf(`{"direction":"received","chat_id":"1@c.us","message":{"id":%q,"type":"chat"}}`, id)
		resp, err := http.Post(in.base+"/hooks/cooby/kill-token-0123456789", "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	for i := range 50 {
		post(ins[[]string{"a", "b"}[i%2]], fmt.Sprint("before-", i))
	}
	waitFor(t, func() bool { return len(sink.acted("/fwd before-")) == 50 })

	ins["a"].kill()
	killed := time.Now()
	for i := range 50 {
		post(ins["b"], fmt.Sprint("after-", i))
	}
	waitFor(t, func() bool { st, ok := ins["b"].status(t); return ok && st.Cluster.Evaluator == "b" })
	took := time.Since(killed)
	t.Logf("b took evaluation over %v after a was killed (lease %v)", took.Round(time.Millisecond), childLeaseTTL)
	require.Less(t, took, childLeaseTTL+childLeaseTTL/3+2*time.Second, "taken over within the lease time and a try")
	waitFor(t, func() bool { return len(sink.acted("/fwd after-")) == 50 })

	db, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer db.Close(context.Background())
	var events, jobs, byB int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM jobs),
		(SELECT COUNT(*) FROM events WHERE evaluated_by = 'b')`).Scan(&events, &jobs, &byB))
	require.Equal(t, 100, events)
	require.Equal(t, 100, jobs, "every message evaluated once: one job each")
	require.GreaterOrEqual(t, byB, 50, "b evaluated what came after the kill")
	for what, n := range sink.acted("/fwd ") {
		require.Equal(t, 1, n, "%s acted on once", what)
	}

	// A clean stop gives the lease up: the restarted a takes it at once
	// (its next try), well before the lease would have lapsed.
	ins["a"] = startInstance(t, dir, url, "a")
	ins["b"].stop()
	stopped := time.Now()
	waitFor(t, func() bool { st, ok := ins["a"].status(t); return ok && st.Cluster.Evaluator == "a" })
	took = time.Since(stopped)
	t.Logf("a took evaluation over %v after b stopped cleanly", took.Round(time.Millisecond))
	require.Less(t, took, childLeaseTTL, "a dropped lease is taken before it would lapse")
	post(ins["a"], "last")
	waitFor(t, func() bool { return len(sink.acted("/fwd last")) == 1 })
}

// TestReadyzWhenStoreUnreachable: an instance that cannot reach its shared
// store says it is not ready (so that the load balancer sends elsewhere),
// and ready again once it can.
func TestReadyzWhenStoreUnreachable(t *testing.T) {
	url := pgtest.Database(t)
	svc := start(t, `rules: [{name: r, when: "true", actions: [{log: {message: "x"}}]}]`, func(c *app.Config) {
		c.Store, c.Instance = url, "solo"
	})
	ready := func() int {
		resp, err := http.Get(svc.base + "/readyz")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, ready())
	admin, err := pgx.Connect(context.Background(), pgtest.ServerURL())
	require.NoError(t, err)
	defer admin.Close(context.Background())
	name := url[strings.LastIndex(url, "/")+1:]
	if i := strings.Index(name, "?"); i >= 0 {
		name = name[:i]
	}
	_, err = admin.Exec(context.Background(), "ALTER DATABASE "+name+" ALLOW_CONNECTIONS false")
	require.NoError(t, err)
	_, err = admin.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
	require.NoError(t, err)
	waitFor(t, func() bool { return ready() == http.StatusServiceUnavailable })
	_, err = admin.Exec(context.Background(), "ALTER DATABASE "+name+" ALLOW_CONNECTIONS true")
	require.NoError(t, err)
	waitFor(t, func() bool { return ready() == http.StatusOK })
}
