// Package notifytest builds and judges the clearly marked test message
// that `switchboard notify-test` and the console's "send test" button send
// through a destination: one implementation for both.
package notifytest

import (
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
)

// Test is a prepared test message.
type Test struct {
	Destination *engine.Destination
	Request     actions.Request
	// Deliverer builds the destination's sender.
	Deliverer actions.Deliverer
	// Preview is the request as it will be sent, secrets as ***.
	Preview string
}

// Prepare builds the test message to destination name of rs; text empty
// means a test notice with the time now, to overrides the recipient.
func Prepare(rs *engine.RuleSet, name, text, to string, now time.Time) (*Test, error) {
	dest, ok := rs.Destinations[name]
	if !ok {
		return nil, fmt.Errorf("no destination %q in the rules", name)
	}
	kind := rs.Kind(dest.Kind)
	tester, okT := kind.(actions.Tester)
	deliverer, okD := kind.(actions.Deliverer)
	if !okT || !okD {
		return nil, fmt.Errorf("%s destinations cannot send a test message", dest.Kind)
	}
	if text == "" {
		text = fmt.Sprintf("Switchboard test message to destination %q, sent %s. No action is needed.", name, now.UTC().Format(time.RFC1123))
	}
	req, err := tester.TestRequest(dest.Config, actions.TestOptions{Text: text, To: to})
	if err != nil {
		return nil, errors.New(rs.RedactError(err.Error()))
	}
	req.Kind, req.Destination = dest.Kind, name
	req.Key = fmt.Sprintf("notify-test:%d", now.UnixNano())
	t := &Test{Destination: dest, Request: req, Deliverer: deliverer}
	if wire, exact, err := rs.WireMasked(req); err == nil {
		if data, err := actions.JSON(wire); err == nil {
			t.Preview = dryrun.FormatWire(kind, wire, data)
			if !exact {
				t.Preview = rs.Redact(t.Preview)
			}
		}
	}
	return t, nil
}

// Outcome says in words what a send's error means for a real delivery,
// secrets redacted; ok is true for a delivered test.
func Outcome(rs *engine.RuleSet, name string, err error) (ok bool, msg string) {
	if err == nil {
		return true, fmt.Sprintf("OK: the test message was delivered to %s", name)
	}
	what := "failed (would be retried)"
	var ra *actions.RetryAfterError
	switch {
	case actions.IsPermanent(err):
		what = "failed permanently (would become a dead letter)"
	case errors.As(err, &ra):
		what = fmt.Sprintf("was refused for now (would be retried after %s)", ra.After)
	}
	return false, fmt.Sprintf("FAIL: the test message %s: %s", what, rs.RedactError(err.Error()))
}
