package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// objectID is what an id from HubSpot must look like before it goes into
// a URL.
var objectID = regexp.MustCompile(`^[0-9]{1,20}$`)

// searchAnswer is a search's answer: {"total":1,"results":[{"id":"51",
// "properties":{...}}]}.
type searchAnswer struct {
	Total   int `json:"total"`
	Results []struct {
		ID         string            `json:"id"`
		Properties map[string]string `json:"properties"`
	} `json:"results"`
}

// errorAnswer is HubSpot's error body: {"status":"error","message":"...",
// "category":"VALIDATION_ERROR","policyName":"SECONDLY",...}.
type errorAnswer struct {
	Message    string `json:"message"`
	Category   string `json:"category"`
	ErrorType  string `json:"errorType"`
	PolicyName string `json:"policyName"`
}

// newSender makes a Plan's requests: each one exactly as Wire built it
// (the contact's id put in by the same code), once, in order.
func newSender(d *Destination, o actions.SenderOptions) (actions.Send[*Plan], error) {
	if d == nil {
		return nil, errors.New("hubspot: actions always name a destination")
	}
	api := &httpkit.API{Client: httpkit.NewClient(o), Secrets: []string{d.Token}}
	return func(ctx context.Context, p *Plan, r actions.Request) error {
		s := &send{api: api, p: p, name: r.Destination}
		return s.run(ctx)
	}, nil
}

// send is one delivery of a Plan.
type send struct {
	api  *httpkit.API
	p    *Plan
	name string
}

func (s *send) run(ctx context.Context) error {
	switch s.p.op.Do {
	case testOp:
		return s.call(ctx, "reading contacts", s.p.Steps[0].Request, nil)
	case UpsertContact:
		id, err := s.findContact(ctx)
		if err != nil {
			return err
		}
		if id == "" {
			w, err := s.p.createContact()
			if err != nil {
				return actions.Permanent(fmt.Errorf("hubspot: %w", err))
			}
			return s.call(ctx, "creating the contact", w, nil)
		}
		w, err := s.p.updateContact(id)
		if err != nil {
			return actions.Permanent(fmt.Errorf("hubspot: %w", err))
		}
		return s.call(ctx, "updating contact "+id, w, nil)
	case LogMessage:
		id, err := s.findContact(ctx)
		if err != nil {
			return err
		}
		if id == "" {
			// Not permanent: upsert_contact, delivered on its own, may
			// not have created it yet.
			return fmt.Errorf("hubspot: no contact with phone %s yet (upsert_contact creates one)", s.p.op.Phone)
		}
		w, err := s.p.searchNote(id)
		if err != nil {
			return actions.Permanent(fmt.Errorf("hubspot: %w", err))
		}
		var notes searchAnswer
		if err := s.call(ctx, "searching the contact's notes", w, &notes); err != nil {
			return err
		}
		for _, n := range notes.Results {
			if strings.Contains(n.Properties["hs_note_body"], s.p.marker()) {
				return nil // logged already: a repeat
			}
		}
		if w, err = s.p.createNote(id); err != nil {
			return actions.Permanent(fmt.Errorf("hubspot: %w", err))
		}
		return s.call(ctx, "adding the note", w, nil)
	}
	return actions.Permanent(fmt.Errorf("hubspot: %q is not an operation", s.p.op.Do))
}

// findContact makes the plan's first request, the contact search, and
// returns the id found, or "".
func (s *send) findContact(ctx context.Context) (string, error) {
	var found searchAnswer
	if err := s.call(ctx, "searching the contact", s.p.Steps[0].Request, &found); err != nil {
		return "", err
	}
	if len(found.Results) == 0 {
		return "", nil
	}
	id := found.Results[0].ID
	if !objectID.MatchString(id) {
		return "", actions.Permanent(errors.New("hubspot: the contact search answered an id that is not a number"))
	}
	return id, nil
}

// call makes one request and classifies its answer.
func (s *send) call(ctx context.Context, what string, w *actions.HTTPRequest, out any) error {
	_, err := s.api.Call(ctx, s.name, fmt.Sprintf("hubspot: %s (%s)", what, httpkit.Where(s.name)), w, out, func(resp *httpkit.Response) error {
		return classify(w, resp)
	})
	return err
}

// classify reads HubSpot's error answers: 429 is retried after
// Retry-After, or the window of the limit it names; 5xx are retried; any
// other (400 VALIDATION_ERROR, 401 INVALID_AUTHENTICATION, 403
// MISSING_SCOPES, 404, 409 CONFLICT) is permanent. It returns nil for an
// answer that is not HubSpot's JSON (httpkit's Check then classifies it).
func classify(w *actions.HTTPRequest, resp *httpkit.Response) error {
	var e errorAnswer
	if json.Unmarshal(resp.Body, &e) != nil || e.Message == "" {
		return nil
	}
	what := e.Category
	if what == "" {
		what = e.ErrorType
	}
	msg := httpkit.Snippet(w, []byte(e.Message))
	if what != "" {
		msg = what + ": " + msg
	}
	err := &actions.StatusError{Code: resp.Status, Body: msg}
	switch {
	case resp.Status == 429:
		d, ok := actions.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			d = policyWindow(e.PolicyName)
		}
		return actions.RetryAfter(d, err)
	case resp.Status >= 500 || resp.Status == 408:
		return err
	}
	return actions.Permanent(err)
}

// policyWindow is how long to wait after a 429 of a rate-limit policy.
func policyWindow(policy string) time.Duration {
	switch policy {
	case "SECONDLY":
		return time.Second
	case "TEN_SECONDLY_ROLLING":
		return 10 * time.Second
	case "DAILY":
		return time.Hour
	}
	return 10 * time.Second
}
