package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/internal/store"
)

type deliveriesPage struct {
	Form         url.Values
	Deliveries   []store.Delivery
	Rules        []string
	Destinations []string
	NextURL      string
	Error        string
	Replay       *replay
	Progress     *progress
	// Self is the page's own URL (the table refreshes from it during a
	// replay).
	Self string
}

// deliveryFilter reads the deliveries page's query.
func deliveryFilter(q url.Values) (store.Filter, error) {
	f := store.Filter{State: q.Get("state"), Rule: q.Get("rule"), Destination: q.Get("destination"), Kind: q.Get("kind"), Limit: 50}
	switch f.State {
	case "", store.StatePending, store.StateRetry, store.StateDone, store.StateDead:
	default:
		return f, fmt.Errorf("state: expected pending, retry, done or dead, got %q", f.State)
	}
	for key, dst := range map[string]*int64{"event": &f.EventID, "before": &f.BeforeID} {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return f, fmt.Errorf("%s: expected a number, got %q", key, v)
			}
			*dst = n
		}
	}
	return f, nil
}

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rs := c.opt.Backend.Rules()
	p := deliveriesPage{Form: q, Rules: ruleNames(rs), Self: r.URL.RequestURI()}
	for name := range rs.Destinations {
		p.Destinations = append(p.Destinations, name)
	}
	sortStrings(p.Destinations)
	f, err := deliveryFilter(q)
	if err != nil {
		p.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "deliveries", "Deliveries", p)
		return
	}
	if id := q.Get("replay"); id != "" {
		p.Replay = c.replays.get(id)
		if p.Replay != nil {
			p.Progress = c.progressOf(r, p.Replay)
		}
	}
	// The time filter becomes id bounds (ids grow with the time created):
	// until is an upper bound of the query, since cuts the page.
	var sinceID int64
	for _, b := range []struct {
		key string
		set func(id int64)
	}{
		{"since", func(id int64) { sinceID = id }},
		{"until", func(id int64) {
			if f.BeforeID == 0 || id < f.BeforeID {
				f.BeforeID = max(id, 1)
			}
		}},
	} {
		v := strings.TrimSpace(q.Get(b.key))
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			p.Error = fmt.Sprintf("%s: expected a time such as 2026-12-01T09:30 (UTC), got %q", b.key, v)
			c.render(w, r, http.StatusBadRequest, "deliveries", "Deliveries", p)
			return
		}
		id, err := c.opt.Store.FirstJobAt(r.Context(), t)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		b.set(id)
	}
	if p.Deliveries, err = c.opt.Backend.Deliveries(r.Context(), f); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	full := len(p.Deliveries) == f.Limit
	if sinceID > 0 {
		for i, d := range p.Deliveries {
			if d.ID < sinceID {
				p.Deliveries, full = p.Deliveries[:i], false
				break
			}
		}
	}
	if full {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Del("replay")
		next.Set("before", strconv.FormatInt(p.Deliveries[len(p.Deliveries)-1].ID, 10))
		p.NextURL = "/deliveries?" + next.Encode()
	}
	c.render(w, r, http.StatusOK, "deliveries", "Deliveries", p)
}

// replay is one replay started from the console, followed on the page.
type replay struct {
	ID      string
	Filter  store.Filter // a bulk replay: the dead letters of a rule or destination
	IDs     []int64      // a selection
	Total   int
	Started time.Time
	Errors  []string
}

// progress is where a replay stands.
type progress struct {
	Waiting int64 // still pending or retrying
	Done    int64 // of a selection: delivered
	Dead    int64 // dead again (of a bulk replay: all the dead letters the filter selects now)
	Finish  bool
}

type replays struct {
	mu sync.Mutex
	m  map[string]*replay
	n  int
}

func (rp *replays) add(r *replay) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.m == nil {
		rp.m = map[string]*replay{}
	}
	rp.n++
	r.ID = strconv.Itoa(rp.n)
	rp.m[r.ID] = r
	delete(rp.m, strconv.Itoa(rp.n-20)) // keep the last 20
}

func (rp *replays) get(id string) *replay {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.m[id]
}

// replay requeues the selected deliveries (ids) or every dead letter of
// a rule or destination (all=1 with rule= or destination=), then shows the
// deliveries page following its progress.
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	rp := &replay{Started: c.opt.Now()}
	if r.PostForm.Get("all") != "" {
		rp.Filter = store.Filter{State: store.StateDead, Rule: r.PostForm.Get("rule"), Destination: r.PostForm.Get("destination"), Kind: r.PostForm.Get("kind")}
		n, err := c.opt.Backend.ReplayDead(ctx, rp.Filter)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		rp.Total = n
	} else {
		for _, v := range r.PostForm["id"] {
			id, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				c.fail(w, r, http.StatusBadRequest, fmt.Errorf("id: expected a delivery id, got %q", v))
				return
			}
			if err := c.opt.Backend.Replay(ctx, id); err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					c.fail(w, r, http.StatusServiceUnavailable, err)
					return
				}
				rp.Errors = append(rp.Errors, fmt.Sprintf("delivery %d is not dead or done: not replayed", id))
				continue
			}
			rp.IDs = append(rp.IDs, id)
		}
		rp.Total = len(rp.IDs)
		if rp.Total == 0 && len(rp.Errors) == 0 {
			c.fail(w, r, http.StatusBadRequest, errors.New("nothing to replay: select deliveries first"))
			return
		}
	}
	c.replays.add(rp)
	back := url.Values{}
	for _, k := range []string{"state", "rule", "destination", "kind", "event", "since", "until"} {
		if v := r.PostForm.Get("f_" + k); v != "" {
			back.Set(k, v)
		}
	}
	back.Set("replay", rp.ID)
	http.Redirect(w, r, "/deliveries?"+back.Encode(), http.StatusSeeOther)
}

func (c *Console) progressOf(r *http.Request, rp *replay) *progress {
	ctx := r.Context()
	p := &progress{}
	if rp.IDs != nil || rp.Filter == (store.Filter{}) {
		for _, id := range rp.IDs {
			// The job itself: the newest below id+1.
			ds, err := c.opt.Backend.Deliveries(ctx, store.Filter{BeforeID: id + 1, Limit: 1})
			if err != nil || len(ds) == 0 || ds[0].ID != id {
				continue
			}
			switch ds[0].State {
			case store.StateDone:
				p.Done++
			case store.StateDead:
				p.Dead++
			default:
				p.Waiting++
			}
		}
	} else {
		wf := rp.Filter
		wf.State = ""
		p.Waiting, _ = c.opt.Store.CountDeliveries(ctx, wf)
		p.Dead, _ = c.opt.Store.CountDeliveries(ctx, rp.Filter)
		p.Done = max(0, int64(rp.Total)-p.Waiting-p.Dead)
	}
	p.Finish = p.Waiting == 0
	return p
}

func (c *Console) replayProgress(w http.ResponseWriter, r *http.Request) {
	rp := c.replays.get(r.PathValue("id"))
	if rp == nil {
		http.Error(w, "no such replay (the console keeps the last 20)", http.StatusNotFound)
		return
	}
	if p := c.progressOf(r, rp); p.Finish {
		// htmx stops polling on 286.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		c.fragment(wrapStatus{w, 286}, r, "deliveries", "progress", deliveriesPage{Replay: rp, Progress: p})
	} else {
		c.fragment(w, r, "deliveries", "progress", deliveriesPage{Replay: rp, Progress: p})
	}
}

// wrapStatus replaces the status code of a response.
type wrapStatus struct {
	http.ResponseWriter
	status int
}

func (w wrapStatus) WriteHeader(int) { w.ResponseWriter.WriteHeader(w.status) }
