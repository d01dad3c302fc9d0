package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// missedGrace is how late a run may start and still count as on time for
// `missed: skip`.
const missedGrace = time.Minute

// DueRuns returns the scheduled runs due at now with st: a schedule never
// seen starts counting (Run.Start); one whose next time has passed runs
// once, for the latest time missed (or is skipped, with `missed: skip`,
// when that is more than a minute ago). The caller adds each run's Events
// and gives them to Step.
func (rs *RuleSet) DueRuns(st *State, now time.Time) []Run {
	var out []Run
	for _, r := range rs.Rules {
		if r.Schedule == nil || !r.Enabled {
			continue
		}
		last, started := st.Schedules[r.Name]
		if !started {
			out = append(out, Run{Rule: r.Name, At: now, Start: true})
			continue
		}
		due := r.Schedule.Next(last)
		if due.IsZero() || due.After(now) {
			continue
		}
		for range 100_000 { // runs missed while down: one run, for the latest
			next := r.Schedule.Next(due)
			if next.IsZero() || next.After(now) {
				break
			}
			due = next
		}
		out = append(out, Run{Rule: r.Name, At: due.UTC(), Since: last, Skip: r.Missed == MissedSkip && now.Sub(due) > missedGrace})
	}
	return out
}

// NeedsEvents reports whether a run evaluates (and so needs its period's
// events and every chat in the State).
func (r Run) NeedsEvents() bool { return !r.Start && !r.Skip }

// BuildDigest sums up a period for a scheduled run: the messages of the
// period (Received, Sent, Chats) and the chats waiting for a reply at
// until, longest waiting first.
func BuildDigest(since, until time.Time, events []*Event, chats map[string]*Conversation, isTeam func(string) bool) *Digest {
	d := &Digest{Since: since.UTC(), Until: until.UTC(), Awaiting: []ChatState{}}
	seen := map[string]bool{}
	for _, ev := range events {
		if FromTeam(ev, isTeam) {
			d.Sent++
		} else {
			d.Received++
		}
		if ev.ChatID != "" {
			seen[ev.ChatID] = true
		}
	}
	d.Chats = len(seen)
	for _, c := range chats {
		if st := c.State(until); st.AwaitingReply {
			d.Awaiting = append(d.Awaiting, st)
		}
	}
	slices.SortFunc(d.Awaiting, func(a, b ChatState) int {
		return cmp.Or(a.AwaitingSince.Compare(b.AwaitingSince), strings.Compare(a.ID, b.ID))
	})
	return d
}

// run makes one scheduled run: the rule sees `digest`, `now()` at the
// scheduled time, and, for a for_each: chat rule, each chat in turn (one
// action per chat episode, however many runs see it).
func (s *stepper) run(r Run) {
	rule := s.rs.Rule(r.Rule)
	if s.eff().Schedules == nil {
		s.eff().Schedules = map[string]time.Time{}
	}
	s.st.Schedules[r.Rule] = r.At
	s.eff().Schedules[r.Rule] = r.At
	out := Outcome{Input: InputRun, EventID: RunEventID(r.At), Rule: r.Rule, At: r.At}
	if rule == nil || rule.Schedule == nil || !r.NeedsEvents() {
		out.Skipped = true
		s.res.Outcomes = append(s.res.Outcomes, out)
		return
	}
	d := BuildDigest(r.Since, r.At, r.Events, s.st.Chats, s.isTeam)
	if r.Counts != nil {
		d.Received, d.Sent, d.Chats = r.Counts.Received, r.Counts.Sent, r.Counts.Chats
	}
	out.Digest = d
	opts := PlanOptions{Now: r.At, IsTeam: s.directory}
	if !rule.ForEachChat {
		out.Plan, _ = s.rs.PlanScheduled(rule, d, opts)
		key := func(_ int64, name string, action int) string {
			return fmt.Sprintf("run:%s:%d:%d", name, r.At.Unix(), action)
		}
		for i := range out.Plan.Matches {
			out.Jobs = append(out.Jobs, s.act(&out.Plan.Matches[i], out.EventID, r.At, key)...)
		}
		s.res.Outcomes = append(s.res.Outcomes, out)
		return
	}
	ids := make([]string, 0, len(s.st.Chats))
	for id := range s.st.Chats {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	acted := false
	for i, id := range ids {
		st := s.st.Chats[id].State(r.At)
		episode := st.Episode()
		if s.st.Chats[id].reported(rule.Name, episode) {
			continue
		}
		plan, _ := s.rs.PlanScheduledChat(rule, st, d, opts)
		if len(plan.Matches) == 0 {
			continue
		}
		s.chat(id).report(rule.Name, episode)
		co := Outcome{Input: InputRun, EventID: ChatRunEventID(r.At, i), Rule: r.Rule, At: r.At, Chat: &st, Digest: d, Plan: plan}
		key := func(_ int64, name string, action int) string {
			return fmt.Sprintf("run:%s:%s:%d", name, shortHash(id+"\x00"+episode), action)
		}
		for j := range plan.Matches {
			co.Jobs = append(co.Jobs, s.act(&plan.Matches[j], co.EventID, r.At, key)...)
		}
		s.res.Outcomes = append(s.res.Outcomes, co)
		acted = true
	}
	if !acted {
		out.Plan = &Plan{Version: s.rs.Version}
		s.res.Outcomes = append(s.res.Outcomes, out)
	}
}

// RunEventID is the event id the jobs of a scheduled run carry: minus the
// scheduled time in unix seconds, so that no run's jobs are mistaken for a
// stored event's.
func RunEventID(at time.Time) int64 { return -at.Unix() }

// ChatRunEventID is the event id of the jobs of the i-th chat of a per-chat
// run: negative, and distinct across runs and chats.
func ChatRunEventID(at time.Time, i int) int64 {
	return -(at.Unix()*1_000_000 + int64(i%1_000_000) + 1)
}
