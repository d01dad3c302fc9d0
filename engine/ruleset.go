package engine

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
)

// RuleSet is a loaded, checked and compiled set of rules files. It is
// immutable and safe for concurrent use: the live service, dry-run and
// `switchboard test` all evaluate events through the same Plan method.
type RuleSet struct {
	// Files are the rules files, in load order.
	Files []string
	// Version identifies the content (a hash of the files): the store
	// records which version decided each event.
	Version string
	// Rules in evaluation order: files in order, rules in file order.
	Rules []*Rule
	// Destinations by name.
	Destinations map[string]*Destination
	// Tests are the `tests:` cases of the files.
	Tests []*TestCase
	// Team holds the team members' numbers listed under `team:`
	// (normalized with NormalizePhone), in addition to every member whose
	// Cooby posts to the service.
	Team []string
	// IgnoreTypes are the message types that carry no conversation (see
	// Carries); nil means DefaultIgnoreTypes.
	IgnoreTypes []string
	// Warnings are problems that do not stop the rules from loading (a
	// condition comparing type with a name Cooby does not send), each
	// with its file:line:col, sorted. `check` prints them; `check
	// --strict` fails on them.
	Warnings []*diag.Error
	// OnDeadLetter, if set, names the destination that receives a summary
	// of new dead letters (`on_dead_letter:`).
	OnDeadLetter *DeadLetterAlert

	quiet    map[string]bool
	lists    map[string]map[string]bool // `lists:`, as sets
	redactor *redactor
	kinds    map[string]actions.Kind
	index    index
	bufs     sync.Pool // *planBuf
}

// Rule is one compiled rule.
type Rule struct {
	Name        string
	Description string
	// When is the condition's source.
	When    string
	Enabled bool
	// Stop ends evaluation of later rules when this one matches.
	Stop bool
	// Dedupe (the default) means the rule acts once per WhatsApp message;
	// false means once per copy the team members' Coobys post.
	Dedupe bool
	// After delays the rule: when its condition holds for a message, it is
	// checked again After past the message's time, with the state of that
	// moment, and acts only if it still holds.
	After time.Duration
	// Schedule, if set, makes this a scheduled rule: it runs on its
	// schedule (see PlanScheduled), never on messages; Missed is its
	// policy for runs missed while the service was down.
	Schedule *Schedule
	Missed   string
	// ForEachChat runs a scheduled rule once per known chat, with `chat`
	// and the chat's last message; it acts at most once per episode (see
	// ChatState.Episode).
	ForEachChat bool
	// Throttle drops repeats: the rule acts at most once per key per
	// window (decided when its actions are enqueued).
	Throttle *Throttle
	// Group batches the rule's matches per key over a window into one
	// action whose templates see them all as `group`.
	Group   *Group
	Actions []Action
	// Index is the rule's position in evaluation order; File and Line say
	// where it is written.
	Index int
	File  string
	Line  int

	prog   *vm.Program
	node   *yaml.Node
	pinned map[string][]string // indexed field -> allowed values
	pre    precheck

	explainOnce sync.Once
	parts       []explainPart
}

// Action is one compiled action of a rule.
type Action struct {
	// Kind is the action kind ("slack"); Destination the destination name
	// it refers to, if any.
	Kind        string
	Destination string
	// Index is the action's position in its rule (from 0); Line where it
	// is written. Name is its `name:`, if it has one.
	Index int
	Line  int
	Name  string

	renderer actions.Renderer
}

// Label is how every output names an action: "action 2" (numbered from
// 1 in its rule), or `action 2 "to-crm"` when it has a name.
func (a *Action) Label() string { return ActionLabel(a.Index, a.Name) }

// ActionLabel is Label for an action known by its index (from 0) and name
// (possibly empty), as stored with a delivery.
func ActionLabel(index int, name string) string {
	if name != "" {
		return fmt.Sprintf("action %d %q", index+1, name)
	}
	return fmt.Sprintf("action %d", index+1)
}

// Throttle limits a rule to one action per key per window: `throttle:
// {key: "{{ chat_id }}", per: 10m}`.
type Throttle struct {
	Key *textTemplate
	Per time.Duration
}

// Group batches matches: `group: {key: "{{ chat_id }}", window: 10m}`.
type Group struct {
	Key    *textTemplate
	Window time.Duration
}

// GroupItem is one message of a group, as templates see it in `group`.
type GroupItem struct {
	MessageID string    `json:"message_id" expr:"message_id"`
	ChatID    string    `json:"chat_id" expr:"chat_id"`
	ChatTitle string    `json:"chat_title" expr:"chat_title"`
	Direction string    `json:"direction" expr:"direction"`
	Type      string    `json:"type" expr:"type"`
	Text      string    `json:"text" expr:"text"`
	Sender    Person    `json:"sender" expr:"sender"`
	Time      time.Time `json:"time" expr:"time"`
}

// ItemOf is a message as a GroupItem.
func ItemOf(ev *Event) GroupItem {
	return GroupItem{
		MessageID: ev.Message.ID, ChatID: ev.ChatID, ChatTitle: ev.ChatTitle, Direction: ev.Direction,
		Type: ev.Message.Type, Text: ev.Message.Text, Sender: ev.Sender, Time: ev.Time,
	}
}

// PlanGroup renders a grouped rule's actions once for its group: the
// templates see the first message's fields and every message as `group`.
func (rs *RuleSet) PlanGroup(r *Rule, first *Event, items []GroupItem, opts PlanOptions) *Plan {
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	env := rs.env(first, now, opts)
	env["group"] = items
	return &Plan{Version: rs.Version, Matches: []Match{rs.render(r, env)}}
}

// Destination is a named, reusable action target from `destinations:`.
type Destination struct {
	Name string
	Kind string
	// Config is the kind's parsed configuration (see actions.Kind).
	Config any
	// Rate limits the sends to it (`rate:`, `burst:`, or the kind's
	// default); the zero value is no limit.
	Rate actions.Rate
	// Retry is its own retry policy (`retry:`); the zero value is the
	// service's.
	Retry actions.Retry
	// AllowPrivate lets its sender connect to private and local addresses
	// (`allow_private: true`; see actions/egress).
	AllowPrivate bool
	File         string
	// masked is Config parsed with its ${VAR}s as *** (see WireMasked);
	// nil if it does not parse so.
	masked any
	Line   int
}

// Redact replaces every secret the rules reference (the values of their
// ${ENV_VAR}s) with ***. Apply it to anything printed.
func (rs *RuleSet) Redact(s string) string { return rs.redactor.redact(s) }

// RedactError is Redact for an error's text, which may quote the start of
// a long value: it also removes every piece of a secret of 8 bytes or
// more, and short secrets where they stand alone (see scrubError).
func (rs *RuleSet) RedactError(s string) string {
	if rs.redactor == nil {
		return s
	}
	return scrubError(rs.redactor.redact(s), rs.redactor.secrets)
}

// Wire returns r exactly as it will be sent: the rendered request combined
// with its destination's configuration by the kind (see actions.Deliverer).
// Kinds that do not deliver return the request body itself.
func (rs *RuleSet) Wire(r actions.Request) (any, error) {
	w, _, err := rs.wire(r, false)
	return w, err
}

// WireMasked is Wire for printing: the destination's values that come
// from ${VAR}s are *** where they are used (a header, a URL's path or
// query, a password), and nothing else is touched, so the output stays
// what it is (valid JSON included) whatever the secrets' values. exact is
// false when the destination could not be masked so: then print
// Redact(output) instead.
func (rs *RuleSet) WireMasked(r actions.Request) (wire any, exact bool, err error) {
	return rs.wire(r, true)
}

// wire combines r with its destination's configuration, or with its
// masked one if masked and there is one (exact then reports it was).
func (rs *RuleSet) wire(r actions.Request, masked bool) (wire any, exact bool, err error) {
	k, ok := rs.kinds[r.Kind].(actions.Deliverer)
	if !ok {
		return r.Body, true, nil // a request body never holds a secret (rejectEnv)
	}
	var dest any
	exact = true
	if r.Destination != "" {
		d, ok := rs.Destinations[r.Destination]
		if !ok {
			return nil, false, fmt.Errorf("destination %q is not defined", r.Destination)
		}
		dest = d.Config
		if masked && d.masked != nil {
			dest = d.masked
		} else {
			exact = false
		}
	}
	w, err := k.Wire(dest, r)
	return w, exact, err
}

// IsTeam reports whether phone is listed under the rules' `team:`.
func (rs *RuleSet) IsTeam(phone string) bool {
	return slices.Contains(rs.Team, NormalizePhone(phone))
}

// teamCheck combines the rules' `team:` with the directory the caller
// keeps.
func (rs *RuleSet) teamCheck(directory func(string) bool) func(string) bool {
	if len(rs.Team) == 0 {
		return directory
	}
	return func(phone string) bool {
		return rs.IsTeam(phone) || (directory != nil && directory(phone))
	}
}

// Kind returns the action kind registered under name, or nil.
func (rs *RuleSet) Kind(name string) actions.Kind { return rs.kinds[name] }

// Rule returns the rule with this name, or nil.
func (rs *RuleSet) Rule(name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// PlanOptions tune one evaluation. The zero value is valid.
type PlanOptions struct {
	// Now is the time `now()` returns; zero means time.Now().
	Now time.Time
	// Explain, if set, records for every rule that did not match which
	// part of its condition was false.
	Explain bool
	// Duplicate marks a repeat of a message already evaluated (the same
	// message.id, direction and chat_id, posted again or by another team
	// member): only rules with `dedupe: false` are evaluated.
	Duplicate bool
	// Chat is the chat's state with this message taken into account
	// (`chat` in conditions); nil is an empty chat.
	Chat *ChatState
	// IsTeam tells a team member's number from a customer's (the team
	// directory); nil knows nobody but the rules file's `team:`.
	IsTeam func(phone string) bool
	// Recheck names a delayed rule whose time has come: only it is
	// evaluated, and if it holds its actions are rendered now.
	Recheck string
}

// Plan is the outcome of evaluating one event: the rules that matched, in
// order, with their rendered actions.
type Plan struct {
	// Version is the RuleSet version that decided.
	Version string
	Matches []Match
	// Misses explains non-matching rules (PlanOptions.Explain only).
	Misses []Miss
}

// Match is one matched rule and its rendered actions.
type Match struct {
	Rule *Rule
	// ThrottleKey is the rendered throttle key of a throttled rule.
	ThrottleKey string
	// GroupKey is set for a grouped rule: the match joins that key's
	// group; the actions are rendered when the group's window closes.
	GroupKey string
	// DueAt is set for a delayed rule (`after:`): its condition held now
	// and is to be checked again at DueAt; its actions are not rendered
	// yet.
	DueAt time.Time
	// Throttled is set by Step: a throttle dropped the actions (a match of
	// the same key acted within the window); Actions shows what they were.
	Throttled bool
	Actions   []Rendered
}

// Rendered is one action rendered for an event, or the error that
// prevented it (a template that failed at run time).
type Rendered struct {
	Action  *Action
	Request actions.Request
	Err     error
}

// Miss says why a rule did not match.
type Miss struct {
	Rule   *Rule
	Reason string
}

type planBuf struct {
	vm vm.VM
}

// Plan evaluates ev against the rules and renders the actions of those that
// match. It is pure: it sends nothing and depends only on its arguments.
func (rs *RuleSet) Plan(ev *Event, opts PlanOptions) (*Plan, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	env := rs.env(ev, now, opts)
	p := &Plan{Version: rs.Version}
	matched := rs.match(ev, env, opts.Duplicate)
	if opts.Recheck != "" {
		matched = rs.recheck(opts.Recheck, ev, env)
	}
	for _, r := range matched {
		if r.Group != nil {
			key, err := r.Group.Key.Render(env, nil)
			if err != nil {
				key = ""
			}
			p.Matches = append(p.Matches, Match{Rule: r, GroupKey: key})
			if r.Stop {
				break
			}
			continue
		}
		if r.After > 0 && opts.Recheck == "" {
			at := ev.Time
			if at.IsZero() {
				at = now
			}
			p.Matches = append(p.Matches, Match{Rule: r, DueAt: at.Add(r.After)})
			if r.Stop {
				break
			}
			continue
		}
		m := rs.render(r, env)
		if r.Throttle != nil {
			key, err := r.Throttle.Key.Render(env, nil)
			if err != nil {
				key = "" // a key that fails to render throttles as the empty key
			}
			m.ThrottleKey = key
		}
		p.Matches = append(p.Matches, m)
		if r.Stop {
			break
		}
	}
	if opts.Explain {
		p.Misses = rs.explain(env, p)
	}
	return p, nil
}

// render renders every action of a matched rule.
func (rs *RuleSet) render(r *Rule, env map[string]any) Match {
	m := Match{Rule: r, Actions: make([]Rendered, len(r.Actions))}
	for i := range r.Actions {
		a := &r.Actions[i]
		req, err := a.renderer.Render(env)
		if err == nil {
			req.Kind, req.Destination = a.Kind, a.Destination
		}
		m.Actions[i] = Rendered{Action: a, Request: req, Err: err}
	}
	return m
}

// recheck evaluates one rule by name; it returns it if it is enabled and
// its condition holds.
func (rs *RuleSet) recheck(name string, ev *Event, env map[string]any) []*Rule {
	r := rs.Rule(name)
	if r == nil || !r.Enabled || r.Schedule != nil || !r.pre.allows(ev, env) {
		return nil
	}
	b, _ := rs.bufs.Get().(*planBuf)
	if b == nil {
		b = &planBuf{}
	}
	defer rs.bufs.Put(b)
	if ok, err := r.eval(&b.vm, env); err != nil || !ok {
		return nil
	}
	return []*Rule{r}
}

// match returns the enabled rules whose conditions hold, in order, up to
// and including the first matching rule with stop set.
func (rs *RuleSet) match(ev *Event, env map[string]any, duplicate bool) []*Rule {
	b, _ := rs.bufs.Get().(*planBuf)
	if b == nil {
		b = &planBuf{}
	}
	defer rs.bufs.Put(b)
	var out []*Rule
	for _, i := range rs.index.lookup(ev.Message.Type, ev.Direction, ev.ChatType) {
		r := rs.Rules[i]
		if duplicate && r.Dedupe {
			continue
		}
		if !r.pre.allows(ev, env) {
			continue
		}
		if !r.pre.complete {
			ok, err := r.eval(&b.vm, env)
			if err != nil || !ok {
				continue
			}
		}
		out = append(out, r)
		if r.Stop {
			break
		}
	}
	return out
}

// eval runs the rule's condition. A run-time error (none is expected with
// a type-checked, nil-free environment) counts as no match.
func (r *Rule) eval(m *vm.VM, env map[string]any) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, fmt.Errorf("rule %q: evaluation panicked: %v", r.Name, p)
		}
	}()
	out, err := m.Run(r.prog, env)
	if err != nil {
		return false, fmt.Errorf("rule %q: %w", r.Name, err)
	}
	b, _ := out.(bool)
	return b, nil
}

// env is the evaluation environment of ev with opts and the rules' lists.
func (rs *RuleSet) env(ev *Event, now time.Time, opts PlanOptions) map[string]any {
	env := newEnv(ev, now, opts.Chat, rs.teamCheck(opts.IsTeam))
	if rs.lists != nil {
		env["lists"] = rs.lists
	}
	return env
}

// RenderAction renders action (its index) of the named rule for ev again,
// in the environment Plan would build with opts; the rule's condition is
// not evaluated. The service uses it to replay a delivery whose first
// rendering failed, once the rules are fixed.
func (rs *RuleSet) RenderAction(rule string, action int, ev *Event, opts PlanOptions) (actions.Request, error) {
	r := rs.Rule(rule)
	if r == nil {
		return actions.Request{}, fmt.Errorf("rule %q is not in the running rules (version %s)", rule, rs.Version)
	}
	if action < 0 || action >= len(r.Actions) {
		return actions.Request{}, fmt.Errorf("rule %q has no action %d in the running rules", rule, action+1)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	a := &r.Actions[action]
	req, err := a.renderer.Render(rs.env(ev, now, opts))
	if err != nil {
		return actions.Request{}, fmt.Errorf("rule %q action %d: %w", rule, action+1, err)
	}
	req.Kind, req.Destination = a.Kind, a.Destination
	return req, nil
}
