package dispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dispatch"
	"github.com/switchboard-dev/switchboard/internal/store"
)

const twoRules = `
rules:
  - name: greet
    when: type == "chat"
    actions:
      - log: {message: "hello {{ sender.wa_name }}"}
      - log: {message: "second", level: warn}
  - name: urgent
    when: icontains(text, "urgent")
    actions:
      - log: {message: "urgent: {{ text }}"}
`

func TestDispatch_CommitsJobsAndCursorTogether(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, twoRules)
	e1 := appendEvent(t, s, payload("A", "hi"), "")
	e2 := appendEvent(t, s, payload("B", "URGENT: call me"), "")
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

	var (
		evaluated [][]string
		onJobs    int
	)
	d := dispatch.New(dispatch.Options{
		Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet,
		Now:         func() time.Time { return now },
		OnEvaluated: func(m []string) { evaluated = append(evaluated, m) },
		OnJobs:      func() { onJobs++ },
	})
	n, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, e2, cursor(t, s))
	require.Equal(t, [][]string{{"greet"}, {"greet", "urgent"}}, evaluated)
	require.Equal(t, 1, onJobs, "one wake per commit that made jobs")

	type row struct {
		Event   int64
		Rule    string
		Action  int
		Kind    string
		Key     string
		Version string
		Message string
	}
	var got []row
	for _, j := range jobs(t, s) {
		req, err := delivery.DecodeRequest(j.Request)
		require.NoError(t, err)
		require.Equal(t, "log", req.Kind)
		require.False(t, j.QueuedAt.IsZero(), "the age limit counts from the queue time")
		require.Equal(t, now, j.NextAttemptAt, "due at once")
		require.Equal(t, store.StatePending, j.State)
		var body struct{ Message string }
		require.NoError(t, json.Unmarshal(req.Body, &body))
		got = append(got, row{j.EventID, j.Rule, j.Action, j.Kind, j.IdempotencyKey, j.RulesetVersion, body.Message})
	}
	v := rs.Version
	require.Equal(t, []row{
		{e1, "greet", 0, "log", fmt.Sprintf("%d:greet:0", e1), v, "hello Ann"},
		{e1, "greet", 1, "log", fmt.Sprintf("%d:greet:1", e1), v, "second"},
		{e2, "greet", 0, "log", fmt.Sprintf("%d:greet:0", e2), v, "hello Ann"},
		{e2, "greet", 1, "log", fmt.Sprintf("%d:greet:1", e2), v, "second"},
		{e2, "urgent", 0, "log", fmt.Sprintf("%d:urgent:0", e2), v, "urgent: URGENT: call me"},
	}, got)

	n, err = d.Once(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "nothing left after the cursor")
	require.Len(t, jobs(t, s), 5)
}

func TestDispatch_CrashBeforeCommitReevaluatesWithoutDuplicates(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rs := rules(t, twoRules)
	current := func() *engine.RuleSet { return rs }
	appendEvent(t, s, payload("A", "hi"), "")
	last := appendEvent(t, s, payload("B", "urgent"), "")

	// The process dies after evaluating, before its commit lands.
	crashed := &faultyLog{Store: s, commit: func(context.Context, store.Batch) error {
		return errors.New("process killed")
	}}
	_, err := dispatch.New(dispatch.Options{Log: crashed, Rules: current, Logger: quiet}).Once(t.Context())
	require.Error(t, err)
	require.Zero(t, cursor(t, s))
	require.Empty(t, jobs(t, s))

	// Restart: a new store handle and a new Dispatcher re-evaluate the batch.
	require.NoError(t, s.Close())
	s = openStore(t, dir)
	d := dispatch.New(dispatch.Options{Log: s, Rules: current, Logger: quiet})
	n, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, last, cursor(t, s))
	require.Len(t, jobs(t, s), 5)

	// Once more after another restart: nothing is evaluated twice.
	n, err = dispatch.New(dispatch.Options{Log: s, Rules: current, Logger: quiet}).Once(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Len(t, jobs(t, s), 5)
}

func TestDispatch_LostCommitAnswerRereadsTheCursor(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, twoRules)
	appendEvent(t, s, payload("A", "hi"), "")
	// The commit lands but its answer is lost (say ctx ended first).
	lost := &faultyLog{Store: s}
	lost.commit = func(ctx context.Context, b store.Batch) error {
		lost.commit = nil
		require.NoError(t, s.Commit(ctx, b))
		return context.DeadlineExceeded
	}
	d := dispatch.New(dispatch.Options{Log: lost, Rules: func() *engine.RuleSet { return rs }, Logger: quiet})
	_, err := d.Once(t.Context())
	require.ErrorIs(t, err, context.DeadlineExceeded)

	appendEvent(t, s, payload("B", "hi"), "")
	n, err := d.Once(t.Context())
	require.NoError(t, err, "the next batch starts after the committed cursor")
	require.Equal(t, 1, n)
	require.Len(t, jobs(t, s), 4)
}

func TestDispatch_ABatchIsDecidedByOneRulesVersion(t *testing.T) {
	s := openStore(t, t.TempDir())
	v1 := rules(t, `rules: [{name: r, when: "true", actions: [{log: {message: one}}]}]`)
	v2 := rules(t, `rules: [{name: r, when: "true", actions: [{log: {message: two}}]}]`)
	require.NotEqual(t, v1.Version, v2.Version)
	var calls atomic.Int32
	// A reload lands right after each batch picked its rules.
	current := func() *engine.RuleSet {
		if calls.Add(1) == 1 {
			return v1
		}
		return v2
	}
	for i := range 5 {
		appendEvent(t, s, payload(fmt.Sprint(i), "hi"), "")
	}
	d := dispatch.New(dispatch.Options{Log: s, Rules: current, Logger: quiet, Batch: 3})
	n, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Equal(t, int32(2), calls.Load(), "Rules is read once per batch")

	var versions []string
	for _, j := range jobs(t, s) {
		versions = append(versions, j.RulesetVersion)
	}
	require.Equal(t, []string{v1.Version, v1.Version, v1.Version, v2.Version, v2.Version}, versions)
}

func TestDispatch_DuplicatesOnlyRunRulesWithoutDedupe(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, `
rules:
  - name: once
    when: "true"
    actions: [{log: {message: once}}]
  - name: every-copy
    when: "true"
    dedupe: false
    actions: [{log: {message: every}}]
`)
	orig := appendEvent(t, s, payload("A", "hi"), "A/received/chat")
	copyRow := appendEvent(t, s, payload("A", "hi"), "A/received/chat")
	require.NotEqual(t, orig, copyRow)

	var evaluated [][]string
	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs }, Logger: quiet,
		OnEvaluated: func(m []string) { evaluated = append(evaluated, m) }})
	_, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, [][]string{{"once", "every-copy"}, {"every-copy"}}, evaluated)

	var keys []string
	for _, j := range jobs(t, s) {
		keys = append(keys, j.IdempotencyKey)
	}
	require.Equal(t, []string{
		fmt.Sprintf("%d:once:0", orig),
		fmt.Sprintf("%d:every-copy:0", orig),
		fmt.Sprintf("%d:every-copy:0", copyRow), // the copy's own id
	}, keys)
}

func TestDispatch_UndecodableEventIsSkipped(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, twoRules)
	var logs bytes.Buffer
	appendEvent(t, s, payload("A", "hi"), "")
	bad := appendEvent(t, s, []byte(`["not", "an object"]`), "")
	last := appendEvent(t, s, payload("B", "hi"), "")

	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	n, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, last, cursor(t, s), "the bad event does not hold up the cursor")
	require.Len(t, jobs(t, s), 4)
	require.Contains(t, logs.String(), fmt.Sprintf("event=%d", bad))
	require.Contains(t, logs.String(), "cannot be decoded")
}

func TestDispatch_RenderErrorIsADeadLetter(t *testing.T) {
	s := openStore(t, t.TempDir())
	rs := rules(t, `
destinations:
  vault: {kind: fail, msg: "token ${SECRET}"}
rules:
  - name: r
    when: "true"
    actions:
      - fail: {destination: vault}
      - log: {message: fine}
`)
	e := appendEvent(t, s, payload("A", "hi"), "")
	var logs bytes.Buffer
	var evaluated [][]string
	var failed []string
	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return rs },
		Logger:         slog.New(slog.NewTextHandler(&logs, nil)),
		OnEvaluated:    func(m []string) { evaluated = append(evaluated, m) },
		OnRenderFailed: func(rule, dest string) { failed = append(failed, rule+"/"+dest) }})
	_, err := d.Once(t.Context())
	require.NoError(t, err)

	require.Equal(t, [][]string{{"r"}}, evaluated, "the match counts")
	require.Equal(t, []string{"r/vault"}, failed)
	js := jobs(t, s)
	require.Len(t, js, 2, "the action that did not render is a delivery too")
	require.Equal(t, 0, js[0].Action)
	require.Equal(t, store.StateDead, js[0].State)
	require.Contains(t, js[0].LastError, "the action could not be rendered: rendering failed: token ***")
	require.Equal(t, fmt.Sprintf("%d:r:0", e), js[0].IdempotencyKey)
	require.Equal(t, 1, js[1].Action)
	require.Equal(t, store.StatePending, js[1].State)
	require.Contains(t, logs.String(), "rendering failed")
	require.Contains(t, logs.String(), "rule=r action=1")
	require.NotContains(t, logs.String(), "s3cret", "errors are redacted")
	require.NotContains(t, js[0].LastError, "s3cret")
}

func TestDispatch_RunWakesRetriesAndStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, t.TempDir())
		rs := rules(t, twoRules)
		flaky := &faultyLog{Store: s, readFails: 3}
		var mu sync.Mutex
		woke := 0
		d := dispatch.New(dispatch.Options{Log: flaky, Rules: func() *engine.RuleSet { return rs }, Logger: quiet,
			Poll: time.Hour, Retry: 10 * time.Second,
			OnJobs: func() { mu.Lock(); woke++; mu.Unlock() }})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()

		// Reads fail three times, 10s apart; the fourth (at 30s) works.
		time.Sleep(31 * time.Second)
		synctest.Wait()
		flaky.mu.Lock()
		require.Zero(t, flaky.readFails, "retried after each failure")
		flaky.mu.Unlock()

		// A Wake, not the hour-long poll, picks up a new event.
		e := appendEvent(t, s, payload("A", "hi"), "")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Zero(t, cursor(t, s), "no poll yet")
		d.Wake()
		synctest.Wait()
		require.Equal(t, e, cursor(t, s))
		mu.Lock()
		require.Equal(t, 1, woke)
		mu.Unlock()

		cancel()
		require.NoError(t, <-done)
	})
}

func TestDispatch_WaitsWhileThereAreNoRules(t *testing.T) {
	s := openStore(t, t.TempDir())
	appendEvent(t, s, payload("A", "hi"), "")
	d := dispatch.New(dispatch.Options{Log: s, Rules: func() *engine.RuleSet { return nil }, Logger: quiet})
	n, err := d.Once(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Zero(t, cursor(t, s), "events wait for rules rather than pass unevaluated")
}
