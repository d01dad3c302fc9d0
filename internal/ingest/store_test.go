package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// TestHandler_Dedupe: one WhatsApp message reported by three team members
// (reliability.md (b) 20) is one event plus two copies; a payload without
// message.id is deduplicated by a hash of its body: only byte-identical
// re-posts are duplicates (18).
func TestHandler_Dedupe(t *testing.T) {
	t.Run("same message from three members", func(t *testing.T) {
		e := newEnv(t, store.Options{})
		first := e.post(t, payload("3EB093D273669B3BE3D2", "6580000001"))
		require.Equal(t, http.StatusAccepted, first.Status)
		require.False(t, first.JSON.Duplicate)
		for _, phone := range []string{"6580000002", "6580000003"} {
			again := e.post(t, payload("3EB093D273669B3BE3D2", phone))
			require.Equal(t, http.StatusOK, again.Status, "answer %s", again.Body)
			require.Equal(t, first.JSON.ID, again.JSON.ID, "the original's id")
			require.True(t, again.JSON.Duplicate)
		}

		evs := e.events(t)
		require.Len(t, evs, 3, "the copies are stored for rules without dedupe")
		require.Equal(t, first.JSON.ID, evs[0].ID)
		require.Zero(t, evs[0].DuplicateOf)
		for i, ev := range evs[1:] {
			require.Equal(t, first.JSON.ID, ev.DuplicateOf)
			require.Contains(t, string(ev.Body), fmt.Sprintf("658000000%d", i+2), "each copy keeps its own body")
		}
		require.Equal(t, "3EB093D273669B3BE3D2\x00received\x006591234567@c.us", evs[0].DedupeKey)
		accepted, dup, _, rejected := e.metrics.snapshot()
		require.Equal(t, 1, accepted)
		require.Equal(t, 2, dup)
		require.Empty(t, rejected)
		require.EqualValues(t, 3, e.notified.Load(), "copies wake the dispatcher too")
	})

	t.Run("other direction or chat is another message", func(t *testing.T) {
		e := newEnv(t, store.Options{})
		a := e.post(t, payload("ID1", "1"))
		b := e.post(t, []byte(`{"chat_id":"6591234567@c.us","direction":"sent","message":{"id":"ID1"}}`))
		c := e.post(t, []byte(`{"chat_id":"120363@g.us","direction":"received","message":{"id":"ID1"}}`))
		for _, r := range []response{a, b, c} {
			require.Equal(t, http.StatusAccepted, r.Status)
		}
		require.NotEqual(t, a.JSON.ID, b.JSON.ID)
		require.NotEqual(t, b.JSON.ID, c.JSON.ID)
	})

	t.Run("no message id: an identical body is a duplicate", func(t *testing.T) {
		e := newEnv(t, store.Options{})
		body := []byte(`{"chat_type":"individual","direction":"sent","message":{"type":"image"},"timestamp":"1628843453"}`)
		a, b := e.post(t, body), e.post(t, body)
		require.Equal(t, http.StatusAccepted, a.Status)
		require.Equal(t, http.StatusOK, b.Status, "answer %s", b.Body)
		require.True(t, b.JSON.Duplicate)
		require.Equal(t, a.JSON.ID, b.JSON.ID)
		sum := sha256.Sum256(body)
		evs := e.events(t)
		require.Len(t, evs, 2, "the copy is stored for rules without dedupe")
		require.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), evs[0].DedupeKey)
		require.Equal(t, a.JSON.ID, evs[1].DuplicateOf)
	})

	t.Run("no message id: the sparse sample posted twice", func(t *testing.T) {
		body, err := os.ReadFile("../../../shared/cooby/payloads/sent-image-sparse.json")
		if errors.Is(err, os.ErrNotExist) {
			t.Skip("../shared/cooby/payloads not present")
		}
		require.NoError(t, err)
		e := newEnv(t, store.Options{})
		a := e.post(t, body)
		require.Equal(t, http.StatusAccepted, a.Status, "answer %s", a.Body)
		b := e.post(t, body)
		require.Equal(t, http.StatusOK, b.Status, "answer %s", b.Body)
		require.True(t, b.JSON.Duplicate)
		require.Equal(t, a.JSON.ID, b.JSON.ID)
		// The same JSON gzipped is the same body once decoded.
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url("/hooks/cooby/{T}"), bytes.NewReader(gzipped(t, body)))
		require.NoError(t, err)
		req.Header.Set("Content-Encoding", "gzip")
		c := e.do(t, req)
		require.Equal(t, http.StatusOK, c.Status, "answer %s", c.Body)
		require.Equal(t, a.JSON.ID, c.JSON.ID)
		accepted, dup, _, _ := e.metrics.snapshot()
		require.Equal(t, 1, accepted)
		require.Equal(t, 2, dup)
	})

	t.Run("no message id: different bodies are different events", func(t *testing.T) {
		e := newEnv(t, store.Options{})
		bodies := [][]byte{
			[]byte(`{"chat_title":"Pinkie","direction":"sent","user_phone":"447441368384","message":{"type":"image","text":"Hi"},"timestamp":"1715150681"}`),
			// The same message as another team member's Cooby posts it.
			[]byte(`{"chat_title":"Pinkie","direction":"received","user_phone":"447441369999","message":{"type":"image","text":"Hi"},"timestamp":"1715150681"}`),
			// The first body with other spacing: not byte-identical.
			[]byte(`{"chat_title": "Pinkie", "direction":"sent","user_phone":"447441368384","message":{"type":"image","text":"Hi"},"timestamp":"1715150681"}`),
		}
		ids := map[int64]bool{}
		for _, body := range bodies {
			r := e.post(t, body)
			require.Equal(t, http.StatusAccepted, r.Status, "answer %s", r.Body)
			require.False(t, r.JSON.Duplicate)
			ids[r.JSON.ID] = true
		}
		require.Len(t, ids, 3)
		for _, ev := range e.events(t) {
			require.Zero(t, ev.DuplicateOf)
		}
	})
}

// TestHandler_DiskBudget: a full store answers 503 with Retry-After: 30 and
// stores nothing, and small bodies still fit.
func TestHandler_DiskBudget(t *testing.T) {
	e := newEnv(t, store.Options{MaxBytes: 100})
	res := e.post(t, payload("BIG", "1"))
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	require.Equal(t, "30", res.Header.Get("Retry-After"))
	require.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
	require.NotEmpty(t, res.JSON.Error)
	require.Empty(t, e.events(t))
	_, _, full, rejected := e.metrics.snapshot()
	require.Equal(t, 1, full)
	require.Equal(t, map[string]int{ingest.ReasonStoreFull: 1}, rejected)
	require.Zero(t, e.notified.Load())

	small := e.post(t, []byte(`{"message":{"id":"S"}}`))
	require.Equal(t, http.StatusAccepted, small.Status)
	require.Len(t, e.events(t), 1)
}

// TestHandler_StoreErrors: no store failure is ever answered 2xx.
func TestHandler_StoreErrors(t *testing.T) {
	t.Run("closed store", func(t *testing.T) {
		e := newEnv(t, store.Options{})
		require.NoError(t, e.st.Close())
		for _, body := range [][]byte{payload("X", "1"), []byte("{not json")} {
			res := e.post(t, body)
			require.Equal(t, http.StatusServiceUnavailable, res.Status, "answer %s", res.Body)
			require.Equal(t, "5", res.Header.Get("Retry-After"))
			require.Zero(t, res.JSON.ID)
			require.Zero(t, res.JSON.QuarantineID)
		}
		_, _, _, rejected := e.metrics.snapshot()
		require.Equal(t, map[string]int{ingest.ReasonStore: 2}, rejected)
	})

	// Failures a healthy real store cannot be made to produce on demand.
	tests := []struct {
		name       string
		err        error
		retryAfter string
	}{
		{"store failed", fmt.Errorf("append event: %w: %w", store.ErrFailed, errors.New("fsync: input/output error")), "5"},
		{"context canceled", fmt.Errorf("append event: %w", context.Canceled), "5"},
		{"deadline exceeded", context.DeadlineExceeded, "5"},
		{"full (wrapped)", fmt.Errorf("append event of 9 bytes: %w", store.ErrFull), "30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &failingStore{err: tt.err}
			srv := httptest.NewServer(ingest.New(ingest.Options{Store: fs, Tokens: []string{token}}))
			t.Cleanup(srv.Close)
			for _, body := range [][]byte{payload("X", "1"), []byte("[")} {
				res, err := srv.Client().Post(srv.URL+"/hooks/cooby/"+token, "application/json", bytes.NewReader(body))
				require.NoError(t, err)
				r := readResponse(t, res)
				_ = res.Body.Close()
				require.Equal(t, http.StatusServiceUnavailable, r.Status)
				require.Equal(t, tt.retryAfter, r.Header.Get("Retry-After"))
			}
		})
	}
}

// failingStore fails every call with err.
type failingStore struct{ err error }

func (f *failingStore) Append(context.Context, store.NewEvent) (store.Appended, error) {
	return store.Appended{ID: 1, Row: 1}, f.err // a result beside an error must not be trusted
}

func (f *failingStore) Quarantine(context.Context, []byte, string) (int64, error) { return 7, f.err }

// TestHandler_ConcurrentPosts: a burst of 200 parallel posts (a historical
// sync) is all answered 202 and all stored.
func TestHandler_ConcurrentPosts(t *testing.T) {
	const n = 200
	e := newEnv(t, store.Options{})
	statuses := make([]int, n)
	ids := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := e.srv.Client().Post(e.url("/hooks/cooby/{T}"), "application/json",
				bytes.NewReader(payload(fmt.Sprintf("BURST-%03d", i), "1")))
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			var a answer
			errs[i] = json.NewDecoder(res.Body).Decode(&a)
			statuses[i], ids[i] = res.StatusCode, a.ID
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	seen := map[int64]bool{}
	for i := range n {
		require.Equal(t, http.StatusAccepted, statuses[i], "post %d", i)
		require.False(t, seen[ids[i]], "id %d answered twice", ids[i])
		seen[ids[i]] = true
	}
	evs := e.events(t)
	require.Len(t, evs, n)
	for _, ev := range evs {
		require.True(t, seen[ev.ID], "stored event %d was never answered", ev.ID)
	}
	require.EqualValues(t, n, e.notified.Load())
	accepted, _, _, _ := e.metrics.snapshot()
	require.Equal(t, n, accepted)
}
