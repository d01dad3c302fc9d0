package engine

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/diag"
	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// destinationRetry reads a destination's `retry:`, such as
//
//	retry: {schedule: [5s, 1m, 10m], max_age: 24h}
//
// (both keys optional). n nil is no `retry:`: the service's policy.
func destinationRetry(n *yaml.Node, errs *diag.List) (actions.Retry, bool) {
	var r actions.Retry
	if n == nil {
		return r, true
	}
	if n.Kind != yaml.MappingNode {
		errs.Addf(n, "retry: expected a mapping such as {schedule: [5s, 1m, 10m], max_age: 24h}, got %s", yamlx.Describe(n))
		return r, false
	}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "schedule":
			if v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
				errs.Addf(v, "retry: schedule: expected at least one delay, such as [5s, 1m, 10m]")
				ok = false
				continue
			}
			if v.Kind != yaml.SequenceNode {
				errs.Addf(v, "retry: schedule: expected a list of delays such as [5s, 1m, 10m], got %s", yamlx.Describe(v))
				ok = false
				continue
			}
			if len(v.Content) > actions.MaxSchedule {
				errs.Addf(v, "retry: schedule: at most %d retries, got %d", actions.MaxSchedule, len(v.Content))
				ok = false
				continue
			}
			for _, step := range v.Content {
				d, err := actions.ParseScheduleStep(step.Value)
				if err != nil || step.Kind != yaml.ScalarNode {
					if step.Kind != yaml.ScalarNode {
						errs.Addf(step, "retry: schedule: expected a duration such as 5s, 10m or 2h, got %s", yamlx.Describe(step))
					} else {
						errs.Addf(step, "%v", err)
					}
					ok = false
					continue
				}
				r.Schedule = append(r.Schedule, d)
			}
		case "max_age":
			d, err := time.ParseDuration(v.Value)
			if err != nil || d <= 0 || v.Kind != yaml.ScalarNode {
				errs.Addf(v, "retry: max_age: expected a duration such as 24h or 90m, got %s", describeScalar(v))
				ok = false
				continue
			}
			r.MaxAge = d
		default:
			msg := "retry: unknown key %q (the keys are schedule and max_age)"
			if s := diag.Suggest(k.Value, []string{"schedule", "max_age"}); s != "" {
				errs.Addf(k, msg+"; did you mean %q?", k.Value, s)
			} else {
				errs.Addf(k, msg, k.Value)
			}
			ok = false
		}
	}
	return r, ok
}

// describeScalar quotes a scalar's text, or describes any other node.
func describeScalar(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return `"` + n.Value + `"`
	}
	return yamlx.Describe(n)
}
