package app

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/console"
	"github.com/switchboard-dev/switchboard/internal/delivery"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
	"github.com/switchboard-dev/switchboard/internal/ingest"
	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
)

// routes builds the service's HTTP interface:
//
//	POST /hooks/cooby/{token}, POST /hooks/cooby   Cooby webhooks (ingest)
//	GET  /healthz, /readyz                          liveness and readiness
//	GET  /metrics, /status                          operations (admin side)
//	POST /-/reload                                  reload the rules (admin)
//	/api/...                                        deliveries, replay, quarantine, dry-run, diff (admin)
//	/, /login, /events, ...                         the web console (admin; see internal/console)
//
// Without an admin address both handlers are one mux that serves it all
// (one listener). With one, public serves only the hooks, /healthz and
// /readyz (anything else is 404) and admin serves everything but the hooks.
func (a *App) routes() (public, admin http.Handler) {
	hook := ingest.New(ingest.Options{
		Store:        a.store,
		Tokens:       a.tokens,
		AllowOrigin:  a.cfg.AllowOrigin,
		MaxBodyBytes: a.cfg.MaxBodyBytes,
		Notify:       a.dispatcher.Stored,
		Logger:       a.log,
		Metrics:      ingestMetrics{a.metrics},
	})
	pub := http.NewServeMux()
	pub.Handle("/hooks/cooby", hook)
	pub.Handle("/hooks/cooby/", hook)
	a.probeRoutes(pub)
	adm := pub
	if a.cfg.AdminAddr != "" {
		adm = http.NewServeMux()
		a.probeRoutes(adm)
	}
	adm.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	adm.HandleFunc("GET /status", a.getStatus)
	adm.HandleFunc("POST /-/reload", a.admin(a.postReload))
	adm.HandleFunc("GET /api/deliveries", a.admin(a.listDeliveries))
	adm.HandleFunc("POST /api/deliveries/{id}/replay", a.admin(a.replayDelivery))
	adm.HandleFunc("POST /api/replay", a.admin(a.replayDead))
	adm.HandleFunc("GET /api/quarantine", a.admin(a.listQuarantine))
	adm.HandleFunc("GET /api/quarantine/{id}", a.admin(a.getQuarantine))
	adm.HandleFunc("POST /api/quarantine/{id}/replay", a.admin(a.replayQuarantine))
	adm.HandleFunc("POST /api/dryrun", a.admin(a.postDryrun))
	adm.HandleFunc("POST /api/diff", a.admin(a.postDiff))
	for _, p := range console.Paths {
		adm.Handle(p, a.console)
	}
	return pub, adm
}

// probeRoutes adds /healthz and /readyz, which both listeners serve.
func (a *App) probeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", a.readyz)
}

// ingestMetrics wires the ingest hooks to Prometheus.
type ingestMetrics struct{ m *metrics }

func (i ingestMetrics) OnAccepted()              { i.m.accepted.Inc() }
func (i ingestMetrics) OnDuplicate()             { i.m.duplicates.Inc() }
func (i ingestMetrics) OnRejected(reason string) { i.m.rejected.WithLabelValues(reason).Inc() }
func (i ingestMetrics) OnStoreFull()             { i.m.storeFull.Inc() }

func (a *App) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case !a.storeReachable(r.Context()):
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unreachable"})
	case a.store.Err() != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store failed"})
	case a.store.Full():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "disk full"})
	case !a.ready.Load():
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
	default:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// StatusReport is what GET /status returns.
type StatusReport struct {
	Rules ReloadStatus `json:"rules"`
	Queue QueueStatus  `json:"queue"`
	// Destinations lists the destinations whose deliveries are failing,
	// paused ones included (see delivery.Health); healthy ones are absent.
	Destinations []delivery.Health `json:"unhealthy_destinations"`
	// Cluster lists, on a shared (PostgreSQL) store, the instances seen
	// within three lease times, their versions and leases, and which one
	// evaluates.
	Cluster *pgstore.Cluster `json:"cluster,omitempty"`
}

// QueueStatus is the store's side of GET /status.
type QueueStatus struct {
	Events       int64 `json:"events"`
	Cursor       int64 `json:"evaluated_through"`
	BacklogBytes int64 `json:"backlog_bytes"`
	Pending      int64 `json:"pending_deliveries"`
	Dead         int64 `json:"dead_letters"`
	Quarantined  int64 `json:"quarantined"`
	Failed       bool  `json:"store_failed"`
	DiskFull     bool  `json:"disk_full"`
}

func (a *App) getStatus(w http.ResponseWriter, r *http.Request) {
	st, err := a.store.Stats(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	cl, err := a.cluster(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, StatusReport{Rules: a.Status(), Queue: QueueStatus{
		Events: st.Events, Cursor: st.Cursor, BacklogBytes: st.BacklogBytes, Pending: st.Pending,
		Dead: st.Dead, Quarantined: st.Quarantined, Failed: st.Failed, DiskFull: st.DiskFull,
	}, Destinations: a.deliverer.Health(), Cluster: cl})
}

// postReload reloads the rules and answers with the outcome: 200 and the
// new status, or 422 and every error with its file:line:col.
func (a *App) postReload(w http.ResponseWriter, r *http.Request) {
	st, err := a.Reload(r.Context(), "POST /-/reload")
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, st)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// admin guards a handler with the admin bearer token.
func (a *App) admin(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + a.adminTok)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required (Authorization: Bearer ...)"})
			return
		}
		h(w, r)
	}
}

// DeliveryView is one delivery as the API lists it. Action is the
// action's number in its rule, from 1 as every output numbers it;
// ActionName its name: in the rules that queued it (when they are the
// running ones).
type DeliveryView struct {
	ID          int64           `json:"id"`
	EventID     int64           `json:"event_id"`
	Rule        string          `json:"rule"`
	Version     string          `json:"ruleset_version"`
	Action      int             `json:"action"`
	ActionName  string          `json:"action_name,omitempty"`
	Kind        string          `json:"kind"`
	Destination string          `json:"destination,omitempty"`
	State       string          `json:"state"`
	Attempts    int             `json:"attempts"`
	NextAt      time.Time       `json:"next_attempt_at"`
	LastStatus  int             `json:"last_status,omitempty"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Request     json.RawMessage `json:"request,omitempty"`
}

func filterFrom(r *http.Request) (store.Filter, error) {
	q := r.URL.Query()
	f := store.Filter{State: q.Get("state"), Rule: q.Get("rule"), Destination: q.Get("destination"), Kind: q.Get("kind")}
	for key, dst := range map[string]*int64{"event": &f.EventID, "before": &f.BeforeID} {
		if v := q.Get(key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return f, fmt.Errorf("%s: expected a number, got %q", key, v)
			}
			*dst = n
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return f, fmt.Errorf("limit: expected a number, got %q", v)
		}
		f.Limit = n
	}
	return f, nil
}

func (a *App) listDeliveries(w http.ResponseWriter, r *http.Request) {
	f, err := filterFrom(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ds, err := a.Deliveries(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	rs := a.Rules()
	out := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		v := DeliveryView{
			ID: d.ID, EventID: d.EventID, Rule: d.Rule, Version: d.RulesetVersion, Action: d.Action + 1,
			ActionName: actionName(rs, d.RulesetVersion, d.Rule, d.Action), Kind: d.Kind,
			Destination: d.Destination, State: d.State, Attempts: d.Attempts, NextAt: d.NextAttemptAt,
			LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		}
		if json.Valid(d.Request) {
			v.Request = json.RawMessage(d.Request)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

// Deliveries lists the deliveries f selects, newest first, with secrets
// redacted from their requests and errors (a request that is not JSON is
// left out). GET /api/deliveries and the console call it.
func (a *App) Deliveries(ctx context.Context, f store.Filter) ([]store.Delivery, error) {
	ds, err := a.store.ListDeliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	rs := a.Rules()
	for i := range ds {
		ds[i].LastError = rs.RedactError(ds[i].LastError)
		if json.Valid(ds[i].Request) {
			ds[i].Request = []byte(rs.Redact(string(ds[i].Request)))
		} else {
			ds[i].Request = nil
		}
		ds[i].IdempotencyKey = ""
	}
	return ds, nil
}

// Replay requeues one dead or done delivery and wakes the workers.
func (a *App) Replay(ctx context.Context, id int64) error {
	if err := a.store.Requeue(ctx, id); err != nil {
		return err
	}
	a.deliverer.Wake()
	return nil
}

// ReplayDead requeues the dead letters f selects and wakes the workers.
func (a *App) ReplayDead(ctx context.Context, f store.Filter) (int, error) {
	f.State = store.StateDead
	n, err := a.store.RequeueDead(ctx, f)
	if err != nil {
		return 0, err
	}
	a.deliverer.Wake()
	return n, nil
}

// actionName is the name: of a rule's action (by index from 0) in the
// rules of version, if they are rs: a delivery queued by other rules
// shows its number only, never a name another action has now.
func actionName(rs *engine.RuleSet, version, rule string, index int) string {
	if rs.Version != version {
		return ""
	}
	if r := rs.Rule(rule); r != nil && index >= 0 && index < len(r.Actions) {
		return r.Actions[index].Name
	}
	return ""
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("id: expected a number, got %q", r.PathValue("id"))
	}
	return id, nil
}

func (a *App) replayDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := a.Replay(r.Context(), id); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, store.ErrNotFound) {
			status = http.StatusNotFound
		}
		writeError(w, status, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"requeued": 1})
}

func (a *App) replayDead(w http.ResponseWriter, r *http.Request) {
	f, err := filterFrom(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	n, err := a.ReplayDead(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"requeued": n})
}

func (a *App) listQuarantine(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	qs, err := a.store.ListQuarantine(r.Context(), limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, qs)
}

func (a *App) getQuarantine(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q, err := a.store.GetQuarantine(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Quarantine-Reason", strings.ReplaceAll(q.Reason, "\n", " "))
	_, _ = w.Write(q.Body)
}

// replayQuarantine feeds a quarantined body through ingest's checks again
// (after the cause, a decoder bug say, is fixed); if it now decodes it is
// appended like a fresh webhook and leaves the quarantine.
func (a *App) replayQuarantine(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	q, err := a.store.GetQuarantine(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	ev, err := engine.Decode(q.Body)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, fmt.Errorf("still not a Cooby payload: %w", err))
		return
	}
	res, err := a.store.Append(r.Context(), store.NewEvent{Body: q.Body, DedupeKey: engine.DedupeKey(ev, q.Body), ReceivedAt: q.ReceivedAt})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err)
		return
	}
	if err := a.store.DeleteQuarantine(r.Context(), id); err != nil {
		a.log.Warn("replayed quarantined body but could not delete it", "quarantine", id, "err", err)
	}
	a.dispatcher.Wake()
	writeJSON(w, http.StatusOK, map[string]any{"id": res.ID, "duplicate": res.Duplicate})
}

// postDryrun evaluates a posted payload with the running rules: the
// dry-run report, nothing stored, nothing sent.
func (a *App) postDryrun(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	opts := dryrun.Options{Explain: r.URL.Query().Get("explain") != ""}
	if at := r.URL.Query().Get("at"); at != "" {
		if opts.Now, err = time.Parse(time.RFC3339, at); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("at: %w", err))
			return
		}
	}
	rep, err := a.DryRun(body, nil, opts)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// DryRun evaluates one payload with the running rules, or with files when
// given (loaded as POST /api/diff loads them): the dry-run report, nothing
// stored, nothing sent. POST /api/dryrun and the console's playground call
// it.
func (a *App) DryRun(body []byte, files []DiffFile, opts dryrun.Options) (*dryrun.Report, error) {
	rs := a.Rules()
	if len(files) > 0 {
		checked, err := a.checkPosted(DiffRequest{Files: files})
		if err != nil {
			return nil, err
		}
		rs = checked.Rules
	}
	return dryrun.Run(rs, "request", body, opts), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

// storeReachable pings a store on the network (PostgreSQL) within a
// second, so that a load balancer stops sending to an instance that
// cannot reach it; a store of one's own is always reachable.
func (a *App) storeReachable(ctx context.Context) bool {
	p, ok := a.store.(interface{ Ping(context.Context) error })
	if !ok {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return p.Ping(ctx) == nil
}
