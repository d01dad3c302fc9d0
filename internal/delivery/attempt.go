package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/store"
)

// maxErrorText bounds the error text stored with an attempt.
const maxErrorText = 1024

// attempt makes one attempt of a claimed job and records its outcome. It
// records nothing if the job was not sent (shutdown, or its destination
// stayed busy for as long as the lease allows): the lease then lapses and
// the job is claimed again.
func (d *Deliverer) attempt(ctx context.Context, j store.Job) {
	log := d.opt.Logger.With("job", j.ID, "event", j.EventID, "rule", j.Rule, "action", j.Action+1,
		"dest", j.Destination, "attempt", j.Attempts+1)
	req, err := DecodeRequest(j.Request)
	if err == nil && IsUnrendered(req) {
		req, err = d.render(ctx, j)
	}
	if err != nil {
		d.finish(log, j, d.dead(err), 0)
		return
	}
	sender, err := d.opt.Senders(j.Kind, j.Destination)
	if err == nil && sender == nil {
		err = fmt.Errorf("no sender for %s destination %q", j.Kind, j.Destination)
	}
	if err != nil {
		d.finish(log, j, d.dead(err), 0)
		return
	}

	// Wait for the destination only as long as the lease leaves room for
	// the attempt itself.
	lease := j.LeaseUntil
	if lease.IsZero() {
		lease = d.opt.Now().Add(d.opt.Lease)
	}
	release, ok := d.dests.acquire(ctx, j.Kind+"/"+j.Destination, lease.Sub(d.opt.Now())-d.opt.Timeout)
	if !ok {
		if ctx.Err() == nil {
			log.Warn("delivery: destination busy for too long; the job waits for its lease to lapse")
		}
		return
	}
	defer release()
	if ctx.Err() != nil {
		return // shutting down: send nothing new
	}

	probe, ok := d.admit(log, j)
	if !ok {
		return
	}
	if probe {
		defer func() {
			if probe { // not made after all
				d.health.cancel(j.Destination)
			}
		}()
	}
	if !d.waitRate(ctx, log, j, lease) {
		return
	}

	req.Key = j.IdempotencyKey
	if log.Enabled(ctx, slog.LevelDebug) {
		log.Debug("delivery: sending", "request", string(req.Body))
	}
	// An attempt under way when shutdown begins runs to its own end.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opt.Timeout)
	start := d.opt.Now()
	err = send(sctx, sender, req)
	cancel()
	end := d.opt.Now()
	res := d.result(j, err, end)
	if j.Destination != "" {
		// An outage is a failure that a retry may cure; a refusal (4xx) or
		// a Retry-After comes from a destination that is up.
		var later *actions.RetryAfterError
		down := err != nil && !actions.IsPermanent(err) && !errors.As(err, &later)
		if probe && down && !d.policy(j.Destination).expired(j, end) {
			// A probe of a paused destination checks the destination, not
			// the job: its failure spends none of the job's attempts.
			// Probes are spaced by the destination's failures in a row.
			res.Outcome, res.Snooze = store.OutcomeRetry, true
			res.Error = truncate("probe of a paused destination failed: "+d.errorText(err), maxErrorText)
			res.RetryAt = end.Add(d.jitter.delay(d.opt.Backoff.Ceiling(d.health.failures(j.Destination))))
		}
		if d.health.report(j.Destination, !down, probe, end, res.RetryAt) {
			d.release(log, j.Destination, end)
		}
		probe = false
	}
	d.finish(log, j, res, end.Sub(start))
}

// render renders a replayed job whose first rendering failed, with the
// running rules.
func (d *Deliverer) render(ctx context.Context, j store.Job) (actions.Request, error) {
	if d.opt.Render == nil {
		return actions.Request{}, errors.New("the action was not rendered, and cannot be rendered here")
	}
	req, err := d.opt.Render(ctx, j)
	if err != nil {
		return actions.Request{}, fmt.Errorf("the action could not be rendered again: %w", err)
	}
	return req, nil
}

// admit checks the destination's health: a job to a paused destination
// that is not its probe waits (snoozed, spending no attempt) until the next
// probe. It reports whether to go on, and whether this job is the probe.
func (d *Deliverer) admit(log *slog.Logger, j store.Job) (probe, ok bool) {
	if j.Destination == "" {
		return false, true
	}
	now := d.opt.Now()
	probe, wait := d.health.admit(j.Destination, now)
	if wait.IsZero() {
		return probe, true
	}
	// Parked: released at once when a probe succeeds (see release).
	pol := d.policy(j.Destination)
	if park := now.Add(parkFor); wait.Before(park) {
		wait = park
	}
	r := store.Result{Outcome: store.OutcomeRetry, Snooze: true, At: now, RetryAt: pol.bound(j, wait),
		Error: fmt.Sprintf("the destination failed %d times in a row and is paused; waiting for a probe to succeed", pauseAfter)}
	if pol.expired(j, now) {
		r = store.Result{Outcome: store.OutcomeDead, At: now,
			Error: fmt.Sprintf("gave up %s after the job was enqueued: the destination was paused, failing", pol.maxAge)}
		d.finish(log, j, r, 0)
		return false, false
	}
	d.outcomes <- outcome{log: log, job: j, result: r, parked: true}
	return false, false
}

// release makes every job waiting for a destination that recovered due at
// once, and wakes the workers.
func (d *Deliverer) release(log *slog.Logger, dest string, now time.Time) {
	r, ok := d.opt.Outbox.(Releaser)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
	defer cancel()
	n, err := r.ReleaseDestination(ctx, dest, now)
	if err != nil {
		log.Warn("delivery: the destination recovered, but releasing its waiting deliveries failed; they wait for their own time", "err", err)
		return
	}
	log.Info("delivery: the destination recovered; its waiting deliveries are released", "released", n)
	d.Wake()
}

// Health lists the destinations that are failing or paused.
func (d *Deliverer) Health() []Health { return d.health.snapshot() }

// waitRate waits for the destination's rate limiter, if it has one, and
// reports whether to send now. A wait longer than the lease leaves room
// for (or than maxRateWait) is not waited out: the job is snoozed until
// its turn (a retry that spends no attempt), so that it never outlives its
// lease. It reports false, having recorded nothing, on shutdown.
func (d *Deliverer) waitRate(ctx context.Context, log *slog.Logger, j store.Job, lease time.Time) bool {
	if d.opt.Limiter == nil {
		return true
	}
	lim := d.opt.Limiter(j.Destination)
	if lim == nil {
		return true
	}
	now := d.opt.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return true // a burst of zero: the limiter cannot say; send
	}
	wait := r.DelayFrom(now)
	if wait <= 0 {
		return true
	}
	if wait > maxRateWait || wait > (lease.Sub(now)-d.opt.Timeout)/2 {
		r.CancelAt(now)
		log.Debug("delivery: the destination's rate limit holds the job back", "until", now.Add(wait))
		d.finish(log, j, store.Result{Outcome: store.OutcomeRetry, Snooze: true, At: now, RetryAt: now.Add(wait),
			Error: "waiting for the destination's rate limit"}, 0)
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		r.CancelAt(d.opt.Now())
		return false
	}
}

// maxRateWait bounds how long a worker holds a job waiting for a rate
// limiter; a longer wait snoozes the job instead.
const maxRateWait = 10 * time.Second

// send calls s.Send, turning a panic into an error: a faulty sender must
// not take the service down.
func send(ctx context.Context, s actions.Sender, r actions.Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sender panicked: %v", p)
		}
	}()
	return s.Send(ctx, r)
}

// result classifies the outcome of an attempt that ended at now.
func (d *Deliverer) result(j store.Job, err error, now time.Time) store.Result {
	r := store.Result{Outcome: store.OutcomeDone, At: now}
	if err == nil {
		return r
	}
	r.Status = actions.StatusCode(err)
	msg := d.errorText(err)
	var later *actions.RetryAfterError
	pol := d.policy(j.Destination)
	switch {
	case actions.IsPermanent(err):
		r.Outcome, r.Error = store.OutcomeDead, msg
	case pol.expired(j, now):
		r.Outcome = store.OutcomeDead
		r.Error = truncate(fmt.Sprintf("gave up %s after the job was enqueued: %s", pol.maxAge, msg), maxErrorText)
	case errors.As(err, &later):
		// The destination is up but busy: not a failed attempt.
		r.Outcome, r.Error, r.Snooze = store.OutcomeRetry, msg, true
		r.RetryAt = now.Add(max(later.After, d.opt.Backoff.Base))
	case j.Attempts >= len(pol.schedule) || (d.opt.MaxAttempts > 0 && j.Attempts+1 >= d.opt.MaxAttempts):
		r.Outcome = store.OutcomeDead
		r.Error = truncate(fmt.Sprintf("gave up after %d attempts: %s", j.Attempts+1, msg), maxErrorText)
	default:
		r.Outcome, r.Error = store.OutcomeRetry, msg
		r.RetryAt = pol.bound(j, now.Add(d.jitter.around(pol.schedule[j.Attempts])))
	}
	return r
}

// policy is the retry policy of a destination's jobs.
type policy struct {
	schedule []time.Duration
	maxAge   time.Duration
}

// policy returns dest's retry policy: its own (Options.Retry), else the
// service's.
func (d *Deliverer) policy(dest string) policy {
	p := policy{schedule: d.opt.Schedule, maxAge: d.opt.MaxAge}
	if d.opt.Retry != nil && dest != "" {
		r := d.opt.Retry(dest)
		if len(r.Schedule) > 0 {
			p.schedule = r.Schedule
		}
		if r.MaxAge > 0 {
			p.maxAge = r.MaxAge
		}
	}
	return p
}

// expired reports whether j is too old, at now, to be tried again.
func (p policy) expired(j store.Job, now time.Time) bool {
	return !j.QueuedAt.IsZero() && now.Sub(j.QueuedAt) >= p.maxAge
}

// bound moves a retry due after j's maximum age to that age, for one last
// attempt.
func (p policy) bound(j store.Job, at time.Time) time.Time {
	if last := j.QueuedAt.Add(p.maxAge); !j.QueuedAt.IsZero() && at.After(last) {
		return last
	}
	return at
}

// dead is the result of a job that cannot be attempted at all.
func (d *Deliverer) dead(err error) store.Result {
	return store.Result{Outcome: store.OutcomeDead, At: d.opt.Now(), Error: d.errorText(err)}
}

func (d *Deliverer) errorText(err error) string {
	return truncate(d.opt.Redact(err.Error()), maxErrorText)
}

// outcome is an attempt whose outcome waits to be recorded.
type outcome struct {
	log     *slog.Logger
	job     store.Job
	result  store.Result
	latency time.Duration
	// parked: the job waits for its paused destination (see admit).
	parked bool
}

// finish hands r over to be recorded (see record), waiting while the
// recorder is that far behind.
func (d *Deliverer) finish(log *slog.Logger, j store.Job, r store.Result, latency time.Duration) {
	r.Latency = latency
	d.outcomes <- outcome{log: log, job: j, result: r, latency: latency}
}

// maxRecord is the most outcomes recorded in one FinishMany.
const maxRecord = 256

// record records the outcomes handed over, every one waiting at the time in
// one FinishMany, and reports each to the log and the metric hook, until
// d.outcomes is closed. An outcome is recorded even when shutdown has begun.
func (d *Deliverer) record() {
	batch := make([]outcome, 0, maxRecord)
	items := make([]store.Finished, 0, maxRecord)
	for first := range d.outcomes {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxRecord {
			select {
			case o, ok := <-d.outcomes:
				if !ok {
					break gather
				}
				batch = append(batch, o)
			default:
				break gather
			}
		}
		items = items[:0]
		for _, o := range batch {
			items = append(items, store.Finished{ID: o.job.ID, Result: o.result})
		}
		ctx, cancel := context.WithTimeout(context.Background(), finishTimeout)
		errs, err := d.opt.Outbox.FinishMany(ctx, items)
		cancel()
		var recovered map[string]bool
		for i, o := range batch {
			e := err
			if e == nil && i < len(errs) {
				e = errs[i]
			}
			d.report(o, e)
			if o.parked && !d.health.paused(o.job.Destination) {
				if recovered == nil {
					recovered = map[string]bool{}
				}
				recovered[o.job.Destination] = true
			}
		}
		// A job parked while its destination recovered (its outcome was
		// recorded after the release) is released too, not left waiting.
		for dest := range recovered {
			d.release(d.opt.Logger.With("dest", dest), dest, d.opt.Now())
		}
	}
}

// report logs a recorded outcome (err is the failure to record it) and
// calls the metric hook.
func (d *Deliverer) report(o outcome, err error) {
	log, j, r, latency := o.log, o.job, o.result, o.latency
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			log.Warn("delivery: the job was finished elsewhere (its lease had lapsed)", "err", err)
		} else {
			log.Error("delivery: recording the outcome failed; the job will be sent again after its lease", "err", err)
		}
	}
	if d.opt.OnResult != nil {
		d.opt.OnResult(j.Kind, j.Destination, string(r.Outcome), latency)
	}
	switch {
	case r.Outcome == store.OutcomeDone:
		log.Debug("delivery: delivered", "latency", latency)
	case r.Outcome == store.OutcomeDead:
		log.Error("delivery: gave up; the job is a dead letter", "status", r.Status, "err", r.Error)
		if err == nil && d.opt.OnDead != nil {
			d.opt.OnDead(j.Rule, j.Destination, r.Error)
		}
	case r.Snooze:
		log.Info("delivery: destination asked to retry later", "status", r.Status, "retry_at", r.RetryAt, "err", r.Error)
	default:
		log.Warn("delivery: attempt failed; will retry", "status", r.Status, "retry_at", r.RetryAt, "err", r.Error)
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
