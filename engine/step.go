package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// The conversation engine: one pure function, Step, decides everything the
// stateful features do, for the live service, dry-run and rule tests alike.
// The service loads the State a batch needs, calls Step, and persists the
// Effects with the jobs in one transaction; dry-run and tests keep the
// State in memory (see Sim). No state rule (team membership, awaiting a
// reply, throttle and group windows, episodes, digests) is written
// anywhere else.

// Batch is the input of one Step, processed in this order: the due delayed
// checks, the events in log order, then, at Now, the groups whose window
// has closed and the scheduled runs.
type Batch struct {
	// Now is the evaluation time: `now()` for events, and the clock that
	// closes groups.
	Now time.Time
	// Checks are delayed checks (`after:`) due by Now.
	Checks []Check
	// Events are stored messages, in log order.
	Events []Stored
	// Runs are scheduled runs to make (see DueRuns).
	Runs []Run
	// Explain records why rules did not match (dry-run's --explain).
	Explain bool
	// Hold leaves the groups open whatever the time: dry-run evaluates a
	// burst of payloads one Step at a time this way (see Sim).
	Hold bool
}

// Stored is one stored event.
type Stored struct {
	// ID is the event's id in the log (its jobs carry it).
	ID    int64
	Event *Event
	// ReceivedAt stands in for the message's time when its timestamp is
	// missing.
	ReceivedAt time.Time
	// Duplicate marks another copy of a message already evaluated (the
	// same message posted again, or by another team member's Cooby): only
	// rules with `dedupe: false` are evaluated, and the state is not
	// changed.
	Duplicate bool
}

// Check is a due delayed check: Rule, set by Event, due at Due.
type Check struct {
	// ID is the caller's identity of the check, reported in
	// Effects.Checked.
	ID    int64
	Rule  string
	Event Stored
	Due   time.Time
}

// Run is one run of a scheduled rule at At, covering (Since, At].
type Run struct {
	Rule  string
	At    time.Time
	Since time.Time
	// Start marks a schedule seen for the first time: it starts counting
	// at At and does not run. Skip marks a run missed while the service
	// was down and skipped (`missed: skip`).
	Start, Skip bool
	// Events are the messages received in the period, for the digest
	// (copies of duplicates left out).
	Events []*Event
	// Counts, if set, replaces the digest's counts (rule tests' digest:).
	Counts *Digest
}

// Result is the outcome of one Step.
type Result struct {
	// Outcomes are one per evaluation made, in order.
	Outcomes []Outcome
	Effects  Effects
}

// Input kinds of an Outcome.
const (
	InputEvent = "event"
	InputCheck = "check"
	InputGroup = "group"
	InputRun   = "run"
)

// Outcome is one evaluation: of an event, a delayed check, a closed group,
// or a scheduled run (for_each: chat rules give one per chat that acted).
type Outcome struct {
	Input string
	// EventID is the event's id, or the id the jobs of a group or run carry.
	EventID int64
	// Rule names the rule of a check, group or run; Group is a group's key,
	// Due a check's due time, At a run's scheduled time.
	Rule  string
	Group string
	// Size is a group's number of messages.
	Size int
	Due  time.Time
	At   time.Time
	// Skipped: a run that did not evaluate (a new schedule, a missed run
	// skipped, a rule no longer there).
	Skipped bool
	// Chat is the conversation state the rules saw (nil: none).
	Chat *ChatState
	// Digest is what a scheduled run saw.
	Digest *Digest
	Plan   *Plan
	// Jobs are the deliveries to make: every rendered action of every
	// match that acts (not delayed, grouped or throttled).
	Jobs []Job
}

// Job is one delivery to make.
type Job struct {
	EventID int64
	Rule    string
	Rendered
	// Key is the idempotency key sent with every attempt.
	Key string
}

// Step evaluates a batch with st and returns what happened; st is updated.
// It is pure: no I/O, no clock but Batch.Now, the same result for the same
// rules, state and batch.
func (rs *RuleSet) Step(st *State, b Batch) *Result {
	st.init()
	s := &stepper{rs: rs, st: st, now: b.Now, res: &Result{}, before: map[string][]time.Time{}}
	s.directory = func(phone string) bool { return st.Team[NormalizePhone(phone)] }
	s.isTeam = rs.teamCheck(s.directory)
	for _, c := range b.Checks {
		s.check(c)
	}
	for _, m := range b.Events {
		s.event(m, b.Explain)
	}
	if !b.Hold {
		s.closeGroups()
	}
	for _, r := range b.Runs {
		s.run(r)
	}
	s.finish()
	return s.res
}

type stepper struct {
	rs  *RuleSet
	st  *State
	now time.Time
	res *Result
	// directory knows the team members learned from user_phone; isTeam
	// adds the rules' team: (Plan adds it itself, so it gets directory).
	directory, isTeam func(string) bool
	// before holds the Pending times of each chat touched, as they were
	// before the step.
	before  map[string][]time.Time
	touched []string
	// groups indexes the open groups by rule and key once a step needs it.
	groups map[ThrottleID][]*OpenGroup
}

func (s *stepper) eff() *Effects { return &s.res.Effects }

// chat returns a chat's conversation, creating it, and marks it changed.
func (s *stepper) chat(id string) *Conversation {
	c := s.st.Chats[id]
	if c == nil {
		c = &Conversation{ChatID: id}
		s.st.Chats[id] = c
	}
	if _, ok := s.before[id]; !ok {
		s.before[id] = slices.Clone(c.Pending)
		s.touched = append(s.touched, id)
	}
	return c
}

func (s *stepper) event(m Stored, explain bool) {
	ev := m.Event
	if !m.Duplicate {
		if p := NormalizePhone(ev.UserPhone); p != "" && !s.st.Team[p] {
			s.st.Team[p] = true
			s.eff().Team = append(s.eff().Team, p)
		}
	}
	at := MessageTime(ev, m.ReceivedAt)
	var chat *ChatState
	if ev.ChatID != "" {
		var c *Conversation
		if !m.Duplicate && s.rs.Carries(ev) {
			c = s.chat(ev.ChatID)
			c.Observe(ev, FromTeam(ev, s.isTeam), at)
		} else if c = s.st.Chats[ev.ChatID]; c == nil {
			c = &Conversation{ChatID: ev.ChatID}
		}
		cs := c.State(s.now)
		chat = &cs
	}
	plan, _ := s.rs.Plan(ev, PlanOptions{Now: s.now, Explain: explain, Duplicate: m.Duplicate, Chat: chat, IsTeam: s.directory})
	out := Outcome{Input: InputEvent, EventID: m.ID, Chat: chat, Plan: plan}
	for i := range plan.Matches {
		mt := &plan.Matches[i]
		switch {
		case mt.Rule.Group != nil:
			s.join(mt.Rule, mt.GroupKey, m, at)
		case !mt.DueAt.IsZero():
			s.eff().Timers = append(s.eff().Timers, Timer{Rule: mt.Rule.Name, EventID: m.ID, Due: mt.DueAt})
		default:
			out.Jobs = append(out.Jobs, s.act(mt, m.ID, at, eventKey)...)
		}
	}
	s.res.Outcomes = append(s.res.Outcomes, out)
}

// act applies a rendered match's throttle and returns its jobs (none if it
// is throttled).
func (s *stepper) act(mt *Match, eventID int64, at time.Time, key func(eventID int64, rule string, action int) string) []Job {
	if t := mt.Rule.Throttle; t != nil && s.throttled(mt.Rule.Name, mt.ThrottleKey, t.Per, at) {
		mt.Throttled = true
		return nil
	}
	jobs := make([]Job, 0, len(mt.Actions))
	for _, a := range mt.Actions {
		jobs = append(jobs, Job{EventID: eventID, Rule: mt.Rule.Name, Rendered: a, Key: key(eventID, mt.Rule.Name, a.Action.Index)})
	}
	return jobs
}

// eventKey is the idempotency key of an action for a stored event:
// "<event id>:<rule>:<action index>".
func eventKey(eventID int64, rule string, action int) string {
	return fmt.Sprintf("%d:%s:%d", eventID, rule, action)
}

// throttled decides a throttled match written at `at`: it is throttled if
// a match of the same rule and key that acted was written less than per
// before or after it, whatever order they arrived in; otherwise it acts
// and its time is remembered.
func (s *stepper) throttled(rule, key string, per time.Duration, at time.Time) bool {
	id := ThrottleID{rule, key}
	acts := s.st.Throttles[id]
	for _, a := range acts {
		if d := at.Sub(a); d < per && d > -per {
			return true
		}
	}
	i, _ := slices.BinarySearchFunc(acts, at, func(a, t time.Time) int { return a.Compare(t) })
	acts = slices.Insert(slices.Clone(acts), i, at)
	if len(acts) > maxThrottleActs {
		acts = acts[len(acts)-maxThrottleActs:]
	}
	s.st.Throttles[id] = acts
	if s.eff().Throttles == nil {
		s.eff().Throttles = map[ThrottleID][]time.Time{}
	}
	s.eff().Throttles[id] = acts
	return false
}

// join adds a grouped rule's match to the open group of its key whose
// first message was written within the window of it (either way; the
// earliest such group if there are several), or opens one.
func (s *stepper) join(r *Rule, key string, m Stored, at time.Time) {
	item := ItemOf(m.Event)
	item.Time = at
	id := ThrottleID{r.Name, key}
	if s.groups == nil { // the open groups by rule and key, for this step
		s.groups = map[ThrottleID][]*OpenGroup{}
		for _, g := range s.st.Groups {
			k := ThrottleID{g.Rule, g.Key}
			s.groups[k] = append(s.groups[k], g)
		}
	}
	var g *OpenGroup
	for _, o := range s.groups[id] {
		if d := at.Sub(o.Start); d <= r.Group.Window && d >= -r.Group.Window && (g == nil || o.Start.Before(g.Start)) {
			g = o
		}
	}
	opened := g == nil
	if opened {
		g = &OpenGroup{Rule: r.Name, Key: key, Start: at, EventID: m.ID, First: m.Event}
		s.st.Groups[g.ID()] = g
		s.groups[id] = append(s.groups[id], g)
	}
	g.Items = append(g.Items, item)
	s.eff().Joined = append(s.eff().Joined, GroupJoin{Group: g.ID(), EventID: m.ID, Item: item, Opened: opened})
}

// check runs a due delayed check: the rule is evaluated again for its
// message with the chat's state now and `now()` at the due time, and acts
// only if it still holds.
func (s *stepper) check(c Check) {
	s.eff().Checked = append(s.eff().Checked, c.ID)
	ev := c.Event.Event
	out := Outcome{Input: InputCheck, EventID: c.Event.ID, Rule: c.Rule, Due: c.Due}
	if s.rs.Rule(c.Rule) == nil {
		out.Skipped = true
		s.res.Outcomes = append(s.res.Outcomes, out)
		return
	}
	if ev.ChatID != "" {
		var st ChatState
		if conv := s.st.Chats[ev.ChatID]; conv != nil {
			st = conv.State(c.Due)
		} else {
			st = (&Conversation{ChatID: ev.ChatID}).State(c.Due)
		}
		out.Chat = &st
	}
	out.Plan, _ = s.rs.Plan(ev, PlanOptions{Now: c.Due, Chat: out.Chat, IsTeam: s.directory, Recheck: c.Rule})
	at := MessageTime(ev, c.Event.ReceivedAt)
	for i := range out.Plan.Matches {
		out.Jobs = append(out.Jobs, s.act(&out.Plan.Matches[i], c.Event.ID, at, eventKey)...)
	}
	s.res.Outcomes = append(s.res.Outcomes, out)
}

// closeGroups renders, once, every group whose window has closed by now,
// with all its messages as `group`, in the order they were written.
func (s *stepper) closeGroups() {
	var due []*OpenGroup
	for _, g := range s.st.Groups {
		if r := s.rs.Rule(g.Rule); r == nil || r.Group == nil || !s.now.Before(g.Start.Add(r.Group.Window)) {
			due = append(due, g)
		}
	}
	sortGroups(due)
	for _, g := range due {
		r := s.rs.Rule(g.Rule)
		delete(s.st.Groups, g.ID())
		s.eff().Closed = append(s.eff().Closed, g.ID())
		out := Outcome{Input: InputGroup, EventID: g.EventID, Rule: g.Rule, Group: g.Key, Size: len(g.Items)}
		if r == nil || r.Group == nil || g.First == nil {
			out.Skipped = true
			s.res.Outcomes = append(s.res.Outcomes, out)
			continue
		}
		items := slices.Clone(g.Items)
		slices.SortStableFunc(items, func(a, b GroupItem) int { return a.Time.Compare(b.Time) })
		out.Plan = s.rs.PlanGroup(r, g.First, items, PlanOptions{Now: s.now, IsTeam: s.directory})
		groupKey := func(_ int64, rule string, action int) string {
			return fmt.Sprintf("group:%s:%d:%s:%d", rule, g.Start.UnixMilli(), shortHash(g.Key), action)
		}
		for i := range out.Plan.Matches {
			out.Jobs = append(out.Jobs, s.act(&out.Plan.Matches[i], g.EventID, g.Start, groupKey)...)
		}
		s.res.Outcomes = append(s.res.Outcomes, out)
	}
}

// shortHash is a header-safe stand-in for text from payloads in keys.
func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// finish lists the chats that changed, with the change to their Pending
// times.
func (s *stepper) finish() {
	slices.Sort(s.touched)
	for _, id := range s.touched {
		c := s.st.Chats[id]
		added, removed := diffTimes(s.before[id], c.Pending)
		s.eff().Chats = append(s.eff().Chats, ChatChange{Conversation: c, Added: added, Removed: removed})
	}
}
