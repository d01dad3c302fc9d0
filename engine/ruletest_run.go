package engine

import (
	"fmt"
	"slices"
	"time"
)

// RunTest runs one case through the conversation engine, as the service
// would: the context messages, the payload and the later messages arrive
// together at the case's time (`at:`, default the payload's own time), then
// time passes to the last due delayed check, and the outcome is compared.
func (rs *RuleSet) RunTest(tc *TestCase) TestResult {
	if tc.Run != "" {
		return rs.runScheduledTest(tc)
	}
	res := TestResult{Case: tc}
	ev, err := Decode(tc.Payload)
	if err != nil {
		res.Failures = append(res.Failures, "payload: "+err.Error())
		return res
	}
	now := tc.At
	if now.IsZero() {
		now = ev.Time
	}
	if now.IsZero() {
		now = time.Unix(0, 0).UTC()
	}
	var sim Sim
	if err := addAll(rs, &sim, "context", tc.Context, now); err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	out := sim.Add(rs, ev, tc.Payload, now, false)
	if err := addAll(rs, &sim, "later", tc.Later, now); err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	plan := out.Plan
	res.Got = []string{}
	for _, m := range plan.Matches {
		res.Got = append(res.Got, m.Rule.Name)
	}
	res.Failures = append(res.Failures, checkExpect(tc, "matched rules", res.Got)...)
	// Delayed rules: time passes to the last due check; the payload's
	// checks that act replace their matches, so that actions: expectations
	// apply to what they rendered then.
	res.GotFired = []string{}
	var last time.Time
	for _, t := range sim.Pending() {
		last = t.Due
	}
	if !last.IsZero() {
		for _, o := range sim.Finish(rs, last, nil, nil) {
			if o.Input != InputCheck || o.EventID != out.EventID || o.Plan == nil {
				continue
			}
			for _, m := range o.Plan.Matches {
				if m.Throttled {
					continue
				}
				res.GotFired = append(res.GotFired, m.Rule.Name)
				for i := range plan.Matches {
					if plan.Matches[i].Rule == m.Rule {
						plan.Matches[i] = m
					}
				}
			}
		}
	}
	if tc.Fired != nil && !slices.Equal(res.GotFired, *tc.Fired) {
		res.Failures = append(res.Failures, fmt.Sprintf("delayed rules that acted: expected %s, got %s", list(*tc.Fired), list(res.GotFired)))
	}
	res.Failures = append(res.Failures, renderFailures(rs, plan)...)
	for _, ae := range tc.Actions {
		res.Failures = append(res.Failures, checkAction(rs, plan, ae)...)
	}
	return res
}

// renderFailures are the actions of a plan that could not be rendered:
// live, each would be a dead letter, so a test fails on it.
func renderFailures(rs *RuleSet, plan *Plan) []string {
	var out []string
	for _, m := range plan.Matches {
		for _, a := range m.Actions {
			if a.Err != nil {
				out = append(out, fmt.Sprintf("rule %q %s cannot be rendered (it would be a dead letter): %s",
					m.Rule.Name, a.Action.Label(), rs.Redact(a.Err.Error())))
			}
		}
	}
	return out
}

// addAll adds a case's context or later messages to sim.
func addAll(rs *RuleSet, sim *Sim, what string, raws [][]byte, now time.Time) error {
	for i, raw := range raws {
		e, err := Decode(raw)
		if err != nil {
			return fmt.Errorf("%s %d: %w", what, i+1, err)
		}
		sim.Add(rs, e, raw, now, false)
	}
	return nil
}

// runScheduledTest runs a scheduled rule at the case's time, which must be
// one of its run times, after the case's context messages, with the
// case's digest counts if it gives them.
func (rs *RuleSet) runScheduledTest(tc *TestCase) TestResult {
	res := TestResult{Case: tc, Got: []string{}}
	r := rs.Rule(tc.Run)
	if r == nil || r.Schedule == nil {
		res.Failures = append(res.Failures, fmt.Sprintf("run: %q is not a scheduled rule", tc.Run))
		return res
	}
	now := tc.At
	if now.IsZero() {
		now = r.Schedule.Next(time.Unix(0, 0)).UTC()
	}
	if !r.Schedule.IsRunTime(now) {
		loc := r.Schedule.Location
		res.Failures = append(res.Failures, fmt.Sprintf("at: %s is not a run time of %q (%q in %s): the previous is %s, the next %s",
			now.Format(time.RFC3339), r.Name, r.Schedule.Spec, loc, r.Schedule.Prev(now).In(loc).Format(time.RFC3339),
			r.Schedule.Next(now).In(loc).Format(time.RFC3339)))
		return res
	}
	var sim Sim
	if err := addAll(rs, &sim, "context", tc.Context, now); err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res
	}
	var counts *Digest
	if tc.Digest != nil {
		counts = tc.Digest
	}
	plan := &Plan{Version: rs.Version}
	for _, o := range sim.Finish(rs, now, []string{r.Name}, counts) {
		if o.Input != InputRun || o.Plan == nil || len(o.Plan.Matches) == 0 {
			continue
		}
		if len(res.Got) == 0 {
			res.Got = append(res.Got, r.Name)
			plan = o.Plan
		}
	}
	res.Failures = append(res.Failures, checkExpect(tc, "acted", res.Got)...)
	for _, ae := range tc.Actions {
		res.Failures = append(res.Failures, checkAction(rs, plan, ae)...)
	}
	return res
}
