package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// chartRange is one period the overview's charts show.
type chartRange struct {
	Name  string
	Label string
	Step  time.Duration
	N     int
	// MatchesLabel is the period the matches per rule cover (at most a
	// day, see maxMatchSpan).
	MatchesLabel string
}

// maxMatchSpan bounds the period of the matches per rule.
const maxMatchSpan = 24 * time.Hour

var chartRanges = []chartRange{
	{"hour", "Last hour", time.Minute, 60, "Last hour"},
	{"day", "Last day", 10 * time.Minute, 144, "Last day"},
	// Matches are counted one by one: a week of them would take too long.
	{"week", "Last week", time.Hour, 168, "Last day"},
}

func rangeOf(name string) chartRange {
	for _, r := range chartRanges {
		if r.Name == name {
			return r
		}
	}
	return chartRanges[0]
}

type overviewPage struct {
	Range   chartRange
	Ranges  []chartRange
	Live    liveData
	Matches []ruleCount
	MaxRule int64
}

type ruleCount struct {
	Rule  string
	Count int64
}

// liveData is the part of the overview that refreshes every few seconds.
type liveData struct {
	Rules     RulesStatus
	Stats     store.Stats
	StatsErr  string
	Unhealthy []delivery.Health
	Now       time.Time
}

func (c *Console) live(r *http.Request) liveData {
	d := liveData{Rules: c.opt.Backend.RulesStatus(), Now: c.opt.Now()}
	st, err := c.opt.Backend.Stats(r.Context())
	if err != nil {
		d.StatsErr = err.Error()
	}
	d.Stats = st
	for _, h := range c.opt.Backend.Health() {
		if h.Paused || h.Failures > 0 {
			d.Unhealthy = append(d.Unhealthy, h)
		}
	}
	slices.SortFunc(d.Unhealthy, func(a, b delivery.Health) int { return cmp.Compare(a.Destination, b.Destination) })
	return d
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	rg := rangeOf(r.URL.Query().Get("range"))
	p := overviewPage{Range: rg, Ranges: chartRanges, Live: c.live(r)}
	s, err := c.series(r, rg)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	for rule, n := range s.Matches {
		p.Matches = append(p.Matches, ruleCount{rule, n})
		p.MaxRule = max(p.MaxRule, n)
	}
	slices.SortFunc(p.Matches, func(a, b ruleCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Rule, b.Rule))
	})
	c.render(w, r, http.StatusOK, "overview", "Overview", p)
}

func (c *Console) overviewLive(w http.ResponseWriter, r *http.Request) {
	c.fragment(w, r, "overview", "live", overviewPage{Live: c.live(r)})
}

func (c *Console) series(r *http.Request, rg chartRange) (store.Series, error) {
	now := c.opt.Now().UTC()
	end := now.Truncate(rg.Step).Add(rg.Step)
	return c.opt.Store.ReadSeries(r.Context(), end.Add(-time.Duration(rg.N)*rg.Step), rg.Step, rg.N, ruleNames(c.opt.Backend.Rules()), now.Add(-maxMatchSpan))
}

// seriesJSON is what console.js draws: per-minute rates at bucket starts.
type seriesJSON struct {
	Times    []int64              `json:"times"`
	Events   []float64            `json:"events"`
	Outcomes map[string][]float64 `json:"outcomes"`
}

func (c *Console) overviewSeries(w http.ResponseWriter, r *http.Request) {
	rg := rangeOf(r.URL.Query().Get("range"))
	s, err := c.series(r, rg)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	perMin := rg.Step.Minutes()
	rate := func(v []int64) []float64 {
		out := make([]float64, len(v))
		for i, n := range v {
			out[i] = float64(n) / perMin
		}
		return out
	}
	out := seriesJSON{Times: make([]int64, s.N), Events: rate(s.Events), Outcomes: map[string][]float64{}}
	for i := range out.Times {
		out.Times[i] = s.Start.Add(time.Duration(i) * s.Step).Unix()
	}
	for _, o := range []string{store.StateDone, store.StateRetry, store.StateDead} {
		v := s.Outcomes[o]
		if v == nil {
			v = make([]int64, s.N)
		}
		out.Outcomes[o] = rate(v)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
