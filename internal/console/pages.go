package console

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/notifytest"
	"github.com/switchboard-dev/switchboard/internal/store"
)

func sortStrings(s []string) { slices.Sort(s) }

// --- chats -----------------------------------------------------------------

type chatsPage struct {
	Awaiting  []store.Awaiting
	Checks    []store.Check
	Scheduled []scheduled
	Now       time.Time
}

type scheduled struct {
	Rule, Spec, Zone string
	PerChat          bool
	Next             time.Time
}

func (c *Console) chats(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := chatsPage{Now: c.opt.Now()}
	var err error
	if p.Awaiting, err = c.opt.Store.ChatsAwaiting(ctx, 200); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	if p.Checks, err = c.opt.Store.PendingChecks(ctx, 0, 200); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	rs := c.opt.Backend.Rules()
	for _, name := range rs.ScheduledRules() {
		rule := rs.Rule(name)
		p.Scheduled = append(p.Scheduled, scheduled{Rule: name, Spec: rule.Schedule.Spec, Zone: rule.Schedule.Location.String(),
			PerChat: rule.ForEachChat, Next: rule.Schedule.Next(p.Now)})
	}
	if r.Header.Get("HX-Request") != "" {
		c.fragment(w, r, "chats", "tables", p)
		return
	}
	c.render(w, r, http.StatusOK, "chats", "Chats", p)
}

// --- rules -----------------------------------------------------------------

type rulesPage struct {
	Status  RulesStatus
	Rules   []*engine.Rule
	Tests   []engine.TestResult
	Failed  int
	Reload  *RulesStatus
	Diff    *DiffResult
	Pasted  string
	Since   string
	Message string
}

func (c *Console) rulesPage(r *http.Request) rulesPage {
	rs := c.opt.Backend.Rules()
	p := rulesPage{Status: c.opt.Backend.RulesStatus(), Rules: rs.Rules, Tests: rs.RunTests(), Since: "24h"}
	for i, t := range p.Tests {
		if len(t.Failures) > 0 {
			p.Failed++
			fs := make([]string, len(t.Failures))
			for j, f := range t.Failures {
				fs[j] = rs.Redact(f)
			}
			p.Tests[i].Failures = fs
		}
	}
	return p
}

func (c *Console) rules(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "rules", "Rules", c.rulesPage(r))
}

func (c *Console) reload(w http.ResponseWriter, r *http.Request) {
	st, err := c.opt.Backend.Reload(r.Context())
	p := c.rulesPage(r)
	p.Reload = &st
	status := http.StatusOK
	if err != nil {
		status = http.StatusUnprocessableEntity
	}
	c.render(w, r, status, "rules", "Rules", p)
}

// maxRulesUpload bounds a pasted or uploaded rules file.
const maxRulesUpload = 4 << 20

func (c *Console) diff(w http.ResponseWriter, r *http.Request) {
	p := c.rulesPage(r)
	if err := r.ParseMultipartForm(maxRulesUpload); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		c.fail(w, r, http.StatusBadRequest, fmt.Errorf("the rules upload: %w", err))
		return
	}
	files, err := rulesFiles(r)
	if err != nil {
		p.Message = err.Error()
		c.render(w, r, http.StatusBadRequest, "rules", "Rules", p)
		return
	}
	p.Pasted = r.FormValue("rules")
	if v := strings.TrimSpace(r.FormValue("since")); v != "" {
		p.Since = v
	}
	since, err := time.ParseDuration(p.Since)
	if err != nil || since <= 0 {
		p.Message = fmt.Sprintf("period: expected a duration such as 24h, got %q", p.Since)
		c.render(w, r, http.StatusBadRequest, "rules", "Rules", p)
		return
	}
	if p.Diff, err = c.opt.Backend.Diff(r.Context(), files, since); err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	status := http.StatusOK
	if len(p.Diff.LoadErrors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.render(w, r, status, "rules", "Rules", p)
}

// rulesFiles are the posted rules: the uploaded files, else the pasted
// text (named pasted.yaml in errors).
func rulesFiles(r *http.Request) ([]RulesFile, error) {
	var out []RulesFile
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			f, err := fh.Open()
			if err != nil {
				return nil, fmt.Errorf("reading the upload %s: %w", fh.Filename, err)
			}
			data, err := io.ReadAll(io.LimitReader(f, maxRulesUpload))
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("reading the upload %s: %w", fh.Filename, err)
			}
			if len(data) > 0 {
				out = append(out, RulesFile{Name: fh.Filename, Content: string(data)})
			}
		}
	}
	if len(out) == 0 {
		if text := r.FormValue("rules"); strings.TrimSpace(text) != "" {
			out = append(out, RulesFile{Name: "pasted.yaml", Content: text})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("paste the new rules or choose their files first")
	}
	return out, nil
}

// --- playground ------------------------------------------------------------

type playgroundPage struct {
	Payload  string
	Rules    string
	At       string
	EventID  string
	Explain  bool
	Report   *dryrun.Report
	Text     string
	Error    string
	Examples []string
}

func (c *Console) playground(w http.ResponseWriter, r *http.Request) {
	p := playgroundPage{Payload: r.FormValue("payload"), Rules: r.FormValue("rules"), At: strings.TrimSpace(r.FormValue("at")),
		EventID: strings.TrimSpace(r.FormValue("event")), Explain: r.Method == http.MethodGet || r.FormValue("explain") != ""}
	if p.EventID != "" && (r.Method == http.MethodGet || strings.TrimSpace(p.Payload) == "") {
		id, err := strconv.ParseInt(p.EventID, 10, 64)
		if err != nil {
			p.Error = fmt.Sprintf("event: expected an event id, got %q", p.EventID)
		} else if ev, err := c.opt.Store.Event(r.Context(), id); err != nil {
			p.Error = err.Error()
		} else {
			p.Payload = string(ev.Body)
		}
	}
	if r.Method == http.MethodPost && p.Error == "" {
		c.runPlayground(&p)
	}
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "playground", "Playground", p)
}

// runPlayground evaluates the payload exactly as `switchboard dryrun`
// does: the same report, printed the same way. Nothing is sent.
func (c *Console) runPlayground(p *playgroundPage) {
	if strings.TrimSpace(p.Payload) == "" {
		p.Error = "paste a payload or pick a stored event first"
		return
	}
	opts := dryrun.Options{Explain: p.Explain}
	if p.At != "" {
		t, err := parseTime(p.At)
		if err != nil {
			p.Error = fmt.Sprintf("time: expected a time such as 2026-12-01T09:30 (UTC), got %q", p.At)
			return
		}
		opts.Now = t
	}
	var files []RulesFile
	if strings.TrimSpace(p.Rules) != "" {
		files = []RulesFile{{Name: "edited.yaml", Content: p.Rules}}
	}
	rep, err := c.opt.Backend.DryRun([]byte(p.Payload), files, opts)
	if err != nil {
		p.Error = err.Error()
		return
	}
	p.Report = rep
	var buf bytes.Buffer
	rep.WriteText(&buf)
	p.Text = buf.String()
}

// --- destinations ----------------------------------------------------------

type destinationsPage struct {
	Destinations []destinationView
	Since        time.Time
	Test         *SendTestResult
	Tested       string
	Error        string
}

type destinationView struct {
	Name, Kind, File string
	Line             int
	Rate             string
	Health           delivery.Health
	Outcomes         store.DestinationOutcomes
	Preview          string // the test message as it would be sent, secrets as ***
	CanTest          bool
}

func (c *Console) destinationsPage(r *http.Request) (destinationsPage, error) {
	rs := c.opt.Backend.Rules()
	p := destinationsPage{Since: c.opt.Now().Add(-time.Hour)}
	outs, err := c.opt.Store.RecentOutcomes(r.Context(), p.Since)
	if err != nil {
		return p, err
	}
	health := map[string]delivery.Health{}
	for _, h := range c.opt.Backend.Health() {
		health[h.Destination] = h
	}
	for name, d := range rs.Destinations {
		v := destinationView{Name: name, Kind: d.Kind, File: d.File, Line: d.Line, Health: health[name], Rate: rateText(d)}
		if o := outs[name]; o != nil {
			v.Outcomes = *o
		}
		v.Preview, v.CanTest = previewTest(rs, name, c.opt.Now())
		p.Destinations = append(p.Destinations, v)
	}
	slices.SortFunc(p.Destinations, func(a, b destinationView) int { return cmp.Compare(a.Name, b.Name) })
	return p, nil
}

func rateText(d *engine.Destination) string {
	if !d.Rate.Limited() {
		return "no limit"
	}
	return d.Rate.String()
}

// previewTest is the test message to destination name as it would be
// sent, secrets as *** (the notify-test preview); ok is false for kinds
// that cannot send one.
func previewTest(rs *engine.RuleSet, name string, now time.Time) (string, bool) {
	t, err := notifytest.Prepare(rs, name, "", "", now)
	if err != nil {
		return "", false
	}
	return t.Preview, true
}

func (c *Console) destinations(w http.ResponseWriter, r *http.Request) {
	p, err := c.destinationsPage(r)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	c.render(w, r, http.StatusOK, "destinations", "Destinations", p)
}

func (c *Console) sendTest(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := c.opt.Backend.Rules().Destinations[name]; !ok {
		c.fail(w, r, http.StatusNotFound, fmt.Errorf("no destination %q in the running rules", name))
		return
	}
	res, err := c.opt.Backend.SendTest(r.Context(), name)
	p, perr := c.destinationsPage(r)
	if perr != nil {
		c.fail(w, r, http.StatusServiceUnavailable, perr)
		return
	}
	p.Tested = name
	status := http.StatusOK
	if err != nil {
		p.Error, status = err.Error(), http.StatusUnprocessableEntity
	} else {
		p.Test = &res
	}
	c.render(w, r, status, "destinations", "Destinations", p)
}
