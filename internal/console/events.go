package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// timeLayout is how the time filters read (an <input type=datetime-local>,
// taken as UTC).
const timeLayout = "2006-01-02T15:04"

type eventsPage struct {
	Form    url.Values
	Filter  store.EventFilter
	Page    store.EventPage
	Rules   []string
	NextURL string
	Error   string
	// TextWindow is how many events a text search reads.
	TextWindow int
}

// eventFilter reads the events page's query; bad values are errors that
// name the field.
func eventFilter(q url.Values) (store.EventFilter, error) {
	f := store.EventFilter{ChatID: strings.TrimSpace(q.Get("chat")), Direction: q.Get("direction"), Type: strings.TrimSpace(q.Get("type")),
		Rule: q.Get("rule"), Text: strings.TrimSpace(q.Get("q"))}
	var errs []error
	for key, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if v := strings.TrimSpace(q.Get(key)); v != "" {
			t, err := parseTime(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: expected a time such as 2026-12-01T09:30 (UTC), got %q", key, v))
				continue
			}
			*dst = t
		}
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("before: expected an event id, got %q", v))
		}
		f.BeforeID = n
	}
	return f, errors.Join(errs...)
}

func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{timeLayout, "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("not a time")
}

func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := eventsPage{Form: q, Rules: ruleNames(c.opt.Backend.Rules()), TextWindow: store.TextWindow}
	f, err := eventFilter(q)
	if err != nil {
		p.Error = err.Error()
		c.render(w, r, http.StatusBadRequest, "events", "Events", p)
		return
	}
	p.Filter = f
	if p.Page, err = c.opt.Store.ListEvents(r.Context(), f); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	if p.Page.More {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("before", strconv.FormatInt(p.Page.Events[len(p.Page.Events)-1].ID, 10))
		p.NextURL = "/events?" + next.Encode()
	}
	c.render(w, r, http.StatusOK, "events", "Events", p)
}

func ruleNames(rs *engine.RuleSet) []string {
	out := make([]string, 0, len(rs.Rules))
	for _, r := range rs.Rules {
		out = append(out, r.Name)
	}
	return out
}

type eventPage struct {
	Event      store.Event
	Decoded    *engine.Event
	DecodeErr  string
	Matches    []store.EventMatch
	Deliveries []deliveryDetail
	Checks     []store.Check
	ChatState  string
	Pending    []time.Time
	Explain    *dryrun.Report
	ExplainErr string
}

type deliveryDetail struct {
	store.Delivery
	Attempts []store.Attempt
}

func (c *Console) event(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, fmt.Errorf("event id: expected a number, got %q", r.PathValue("id")))
		return
	}
	ctx := r.Context()
	ev, err := c.opt.Store.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("there is no event %d (it may be older than the retention window)", id))
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	p := eventPage{Event: ev}
	if p.Decoded, err = engine.Decode(ev.Body); err != nil {
		p.DecodeErr = err.Error()
	}
	if p.Matches, err = c.opt.Store.EventMatches(ctx, id); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	ds, err := c.opt.Backend.Deliveries(ctx, store.Filter{EventID: id, Limit: 1000})
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	for _, d := range ds {
		at, err := c.opt.Store.Attempts(ctx, d.ID)
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		p.Deliveries = append(p.Deliveries, deliveryDetail{Delivery: d, Attempts: at})
	}
	if p.Checks, err = c.opt.Store.PendingChecks(ctx, id, 100); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	if p.Decoded != nil && p.Decoded.ChatID != "" {
		chats, err := c.opt.Store.Chats(ctx, []string{p.Decoded.ChatID})
		if err != nil {
			c.fail(w, r, http.StatusServiceUnavailable, err)
			return
		}
		if ch, ok := chats[p.Decoded.ChatID]; ok {
			p.ChatState = c.opt.Backend.Rules().Redact(string(ch.State))
			p.Pending = ch.Pending
		}
	}
	if r.URL.Query().Get("explain") != "" {
		p.Explain, err = c.opt.Backend.DryRun(ev.Body, nil, dryrun.Options{Explain: true})
		if err != nil {
			p.ExplainErr = err.Error()
		}
	}
	c.render(w, r, http.StatusOK, "event", fmt.Sprintf("Event %d", id), p)
}
