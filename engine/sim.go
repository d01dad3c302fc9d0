package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Sim runs the conversation engine in memory, the way the service runs it
// over its store: dry-run, `switchboard test` and the service's dry-run API
// use it, so they decide exactly what the service decides. Payloads added
// one after the other are a burst that arrives together: they are all
// evaluated before anything due in time (delayed checks, closing groups,
// scheduled runs), which happens in Finish. The zero value is an empty
// simulation.
type Sim struct {
	State State
	// checks are the delayed checks set and not yet run.
	checks []simCheck
	events map[int64]Stored
	keys   map[string]int64
	nextID int64
	// lastCheck numbers the checks in the order they were set.
	lastCheck int64
	// log holds the original messages, for digests; first is the earliest
	// message time.
	log   []*Event
	first time.Time
}

type simCheck struct {
	Timer
	id int64
}

// Add evaluates one decoded payload (raw is its body) at now and returns
// what the rules did with it. A copy of a payload already added (same
// DedupeKey) is evaluated as the service evaluates a duplicate.
func (s *Sim) Add(rs *RuleSet, ev *Event, raw []byte, now time.Time, explain bool) Outcome {
	if s.events == nil {
		s.events, s.keys = map[int64]Stored{}, map[string]int64{}
	}
	s.nextID++
	m := Stored{ID: s.nextID, Event: ev, ReceivedAt: now}
	key := DedupeKey(ev, raw)
	if _, dup := s.keys[key]; dup {
		m.Duplicate = true
	} else {
		s.keys[key] = m.ID
		s.log = append(s.log, ev)
		if at := MessageTime(ev, now); s.first.IsZero() || at.Before(s.first) {
			s.first = at
		}
	}
	s.events[m.ID] = m
	res := rs.Step(&s.State, Batch{Now: now, Events: []Stored{m}, Explain: explain, Hold: true})
	s.take(res)
	return res.Outcomes[0]
}

// take keeps the delayed checks a step set.
func (s *Sim) take(res *Result) {
	for _, t := range res.Effects.Timers {
		s.lastCheck++
		s.checks = append(s.checks, simCheck{Timer: t, id: s.lastCheck})
	}
}

// Finish is time passing to now after the burst: the delayed checks due by
// then run (earliest first), the groups whose window has closed act, and
// the scheduled rules named in runs run once at now with a digest of every
// payload added (counts, if set, replaces the digest's counts). It returns
// what each of them did.
func (s *Sim) Finish(rs *RuleSet, now time.Time, runs []string, counts *Digest) []Outcome {
	b := Batch{Now: now}
	slices.SortStableFunc(s.checks, func(a, b simCheck) int { return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.id, b.id)) })
	rest := s.checks[:0:0]
	for _, c := range s.checks {
		if c.Due.After(now) {
			rest = append(rest, c)
			continue
		}
		b.Checks = append(b.Checks, Check{ID: c.id, Rule: c.Rule, Event: s.events[c.EventID], Due: c.Due})
	}
	s.checks = rest
	for _, name := range runs {
		since := s.first
		if last, ok := s.State.Schedules[name]; ok {
			since = last
		}
		b.Runs = append(b.Runs, Run{Rule: name, At: now, Since: since, Events: s.log, Counts: counts})
	}
	res := rs.Step(&s.State, b)
	s.take(res)
	return res.Outcomes
}

// Pending lists the delayed checks not yet run, earliest first.
func (s *Sim) Pending() []Timer {
	out := make([]Timer, len(s.checks))
	for i, c := range s.checks {
		out[i] = c.Timer
	}
	slices.SortStableFunc(out, func(a, b Timer) int { return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.Rule, b.Rule)) })
	return out
}

// ScheduledRules names the enabled scheduled rules, in order.
func (rs *RuleSet) ScheduledRules() []string {
	var out []string
	for _, r := range rs.Rules {
		if r.Schedule != nil && r.Enabled {
			out = append(out, r.Name)
		}
	}
	return out
}
