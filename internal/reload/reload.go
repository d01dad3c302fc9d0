// Package reload keeps a service's running rules in step with its rules
// files. One goroutine (Reloader.Run) owns every trigger: file-system
// events on the directories the rules live in, debounced so that a burst
// of writes is one reload; a slow checksum poll as a safety net (network
// file systems send no events); and explicit requests (SIGHUP, POST
// /-/reload) through Trigger, which answer with the outcome. Automatic
// triggers reload only when the checksum of the files' content changed.
//
// The Reloader decides when; loading, validating and swapping the rules is
// the caller's Func, which must leave the running rules in place when the
// new ones fail.
package reload

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Causes passed to Func by automatic reloads; Trigger passes its own.
const (
	CauseChange = "file change"
	CausePoll   = "checksum poll"
)

// Func loads the rules and, only if they are valid, makes them the running
// set. It returns the Snapshot it read and loaded (nil if it could not read
// one), so that the Reloader knows the content and the files the rules
// named, and the outcome. cause says what triggered it.
type Func func(ctx context.Context, cause string) (*Snapshot, error)

// Options configure a Reloader. Paths and Reload are required.
type Options struct {
	// Paths are the rules files or directories (as given to the engine).
	Paths []string
	// Reload loads and swaps the rules; see Func.
	Reload Func
	// Current is the Snapshot of the rules already running (loaded), so
	// that the first event does not reload unchanged content and the files
	// they name are watched too.
	Current *Snapshot
	// Debounce is how long the files must stay quiet after an event before
	// they are read; default 200ms. Under a steady stream of events the
	// check still runs 10 debounce periods after the first.
	Debounce time.Duration
	// Poll is the interval of the checksum poll; default 30s, negative
	// for none.
	Poll time.Duration
	// NoWatch turns file-system events off (the poll, Changed and Trigger
	// remain). Tests under testing/synctest use it.
	NoWatch bool
	// Logger receives the Reloader's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Reloader decides when the rules are reloaded. Create it with New, run it
// with Run; Trigger and Changed may be called from any goroutine.
type Reloader struct {
	opt     Options
	log     *slog.Logger
	trigger chan request
	changed chan struct{}

	loadMu sync.Mutex // serialises Func; guards last and named
	last   string     // the sum (or read error) of the last reload
	// named are the files the last loaded rules named (tests, payloads,
	// lists): their content is part of the sum, their directories are
	// watched.
	named []string

	mu   sync.Mutex
	done chan struct{} // closed when Run returns; nil while not running
}

type request struct {
	cause string
	reply chan error
}

// New returns a Reloader; nothing happens before Run.
func New(opts Options) *Reloader {
	if opts.Debounce <= 0 {
		opts.Debounce = 200 * time.Millisecond
	}
	if opts.Poll == 0 {
		opts.Poll = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reloader{
		opt: opts, log: opts.Logger,
		trigger: make(chan request), changed: make(chan struct{}, 1),
	}
	if opts.Current != nil {
		r.last, r.named = opts.Current.Sum(), opts.Current.Named()
	}
	return r
}

// Changed tells the Reloader the files may have changed, like a file-system
// event: the checksum is compared after the debounce. It never blocks.
func (r *Reloader) Changed() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Trigger reloads now, even if the content is unchanged (the environment a
// rules file reads may have changed), and returns the outcome. While Run is
// going the reload happens on its goroutine; otherwise on the caller's.
func (r *Reloader) Trigger(ctx context.Context, cause string) error {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		req := request{cause: cause, reply: make(chan error, 1)}
		select {
		case r.trigger <- req:
			select {
			case err := <-req.reply:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.reload(ctx, cause, "")
}

// reload runs Func and remembers what it read; key stands for the content
// when Func could not read it.
func (r *Reloader) reload(ctx context.Context, cause, key string) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	snap, err := r.opt.Reload(ctx, cause)
	r.last = key
	if snap != nil {
		r.last, r.named = snap.Sum(), snap.Named()
	}
	return err
}

// lastLoad returns the sum of the last reload and the files its rules
// named.
func (r *Reloader) lastLoad() (string, []string) {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	return r.last, r.named
}

// Named returns the files the last loaded rules named (a tests: file, test
// payloads, list files), which the watcher watches beside the rules.
func (r *Reloader) Named() []string {
	_, named := r.lastLoad()
	return named
}

// Run watches and reloads until ctx ends, then returns nil. File watching
// that cannot start (no inotify) is logged; the poll carries on.
func (r *Reloader) Run(ctx context.Context) error {
	if r.opt.Reload == nil || len(r.opt.Paths) == 0 {
		return errors.New("reload: Paths and Reload are required")
	}
	done := make(chan struct{})
	r.mu.Lock()
	if r.done != nil {
		r.mu.Unlock()
		return errors.New("reload: Run is already going")
	}
	r.done = done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.done = nil
		r.mu.Unlock()
		close(done)
	}()

	var (
		w      *dirWatcher
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	if !r.opt.NoWatch {
		var err error
		if w, err = newDirWatcher(r.opt.Paths, r.Named, r.log); err != nil {
			r.log.Warn("reload: file watching unavailable; relying on the checksum poll", "err", err, "poll", r.opt.Poll)
		} else {
			defer w.close()
			events, errs = w.w.Events, w.w.Errors
		}
	}
	var poll <-chan time.Time
	if r.opt.Poll > 0 {
		t := time.NewTicker(r.opt.Poll)
		defer t.Stop()
		poll = t.C
	}
	d := newDebouncer(r.opt.Debounce)
	defer d.stop()
	var missing string // the last "rules missing" logged, not to repeat it
	check := func(cause string) {
		if w != nil {
			w.sync()
		}
		missing = r.check(ctx, cause, missing)
	}
	// What changed before the watches were set up sent no event to them.
	check(CauseChange)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			r.log.Debug("reload: file event", "name", ev.Name, "op", ev.Op.String())
			d.event()
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				r.log.Warn("reload: file watching error", "err", err)
			}
			d.event() // events may have been lost: look anyway
		case <-r.changed:
			d.event()
		case <-d.fire():
			d.fired()
			check(CauseChange)
		case <-poll:
			check(CausePoll)
		case req := <-r.trigger:
			req.reply <- r.reload(ctx, req.cause, "")
			if w != nil {
				w.sync()
			}
		}
	}
}

// check reloads if the content differs from the last reload's. Rules that
// are missing (a file deleted to be created again) are waited for: the
// running rules stay and nothing is reported but a warning.
func (r *Reloader) check(ctx context.Context, cause, missing string) string {
	last, named := r.lastLoad()
	snap, err := read(r.opt.Paths, named)
	switch {
	case errors.Is(err, ErrMissing):
		if err.Error() != missing {
			r.log.Warn("reload: rules missing; the running rules stay until they are back", "err", err)
		}
		return err.Error()
	case err != nil:
		if key := "error: " + err.Error(); key != last {
			_ = r.reload(ctx, cause, key) // Func reports the failure
		}
		return ""
	case snap.Sum() == last:
		r.log.Debug("reload: rules unchanged", "cause", cause)
		return ""
	}
	_ = r.reload(ctx, cause, snap.Sum())
	return ""
}
