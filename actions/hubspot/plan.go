package hubspot

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Plan is the wire form of a hubspot action: the requests it makes, in
// order, each with the condition it is made on. Requests that need the
// contact's id show it as ContactID; the sender builds them again with the
// id the search found, by the same code.
type Plan struct {
	Steps []Step `json:"steps"`

	d  *Destination
	op Op
	r  actions.Request
}

// Step is one request of a Plan.
type Step struct {
	// When is the condition ("" for always).
	When    string               `json:"when,omitempty"`
	Request *actions.HTTPRequest `json:"request"`
}

// ContactID stands for the contact's id in a Plan's requests.
const ContactID = "{contactId}"

// Conditions of steps.
const (
	whenFound    = "a contact is found"
	whenNotFound = "no contact is found"
	whenNoNote   = "a contact is found and it has no note of this message yet"
)

// noteToContact is HubSpot's association type of a note to a contact.
const noteToContact = 202

func wire(d *Destination, op Op, r actions.Request) (*Plan, error) {
	if d == nil {
		return nil, fmt.Errorf("hubspot: the request names no destination")
	}
	p := &Plan{d: d, op: op, r: r}
	type step struct {
		when  string
		build func() (*actions.HTTPRequest, error)
	}
	var steps []step
	switch op.Do {
	case testOp:
		steps = []step{{"", func() (*actions.HTTPRequest, error) {
			return p.request("GET", "/crm/v3/objects/contacts?limit=1", nil)
		}}}
	case UpsertContact:
		steps = []step{
			{"", p.searchContact},
			{whenFound, func() (*actions.HTTPRequest, error) { return p.updateContact(ContactID) }},
			{whenNotFound, p.createContact},
		}
	case LogMessage:
		steps = []step{
			{"", p.searchContact},
			{whenFound, func() (*actions.HTTPRequest, error) { return p.searchNote(ContactID) }},
			{whenNoNote, func() (*actions.HTTPRequest, error) { return p.createNote(ContactID) }},
		}
	default:
		return nil, fmt.Errorf("hubspot: %q is not an operation", op.Do)
	}
	for _, st := range steps {
		w, err := st.build()
		if err != nil {
			return nil, fmt.Errorf("hubspot: %w", err)
		}
		p.Steps = append(p.Steps, Step{When: st.when, Request: w})
	}
	return p, nil
}

// request is one API call with the token and the delivery's key.
func (p *Plan) request(method, path string, body any) (*actions.HTTPRequest, error) {
	return httpkit.JSONRequest(method, p.d.APIURL+path, body, p.r.Key, map[string]string{"Authorization": "Bearer " + p.d.Token})
}

type filter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        string `json:"value"`
}

type filterGroup struct {
	Filters []filter `json:"filters"`
}

type sort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

type search struct {
	FilterGroups []filterGroup `json:"filterGroups"`
	Sorts        []sort        `json:"sorts,omitempty"`
	Properties   []string      `json:"properties"`
	Limit        int           `json:"limit"`
}

// searchContact finds the oldest contact whose phone or mobilephone is
// the number (filter groups are ORed).
func (p *Plan) searchContact() (*actions.HTTPRequest, error) {
	return p.request("POST", "/crm/v3/objects/contacts/search", search{
		FilterGroups: []filterGroup{
			{Filters: []filter{{"phone", "EQ", p.op.Phone}}},
			{Filters: []filter{{"mobilephone", "EQ", p.op.Phone}}},
		},
		Sorts:      []sort{{"createdate", "ASCENDING"}},
		Properties: []string{"phone", "mobilephone"},
		Limit:      1,
	})
}

type properties struct {
	Properties map[string]string `json:"properties"`
}

func (p *Plan) updateContact(id string) (*actions.HTTPRequest, error) {
	return p.request("PATCH", "/crm/v3/objects/contacts/"+id, properties{p.op.Properties})
}

func (p *Plan) createContact() (*actions.HTTPRequest, error) {
	props := map[string]string{"phone": p.op.Phone}
	for k, v := range p.op.Properties {
		props[k] = v
	}
	return p.request("POST", "/crm/v3/objects/contacts", properties{props})
}

// searchNote finds the contact's notes at the message's time.
func (p *Plan) searchNote(id string) (*actions.HTTPRequest, error) {
	return p.request("POST", "/crm/v3/objects/notes/search", search{
		FilterGroups: []filterGroup{{Filters: []filter{
			{"associations.contact", "EQ", id},
			{"hs_timestamp", "EQ", strconv.FormatInt(p.op.TimeMS, 10)},
		}}},
		Properties: []string{"hs_note_body"},
		Limit:      100,
	})
}

type association struct {
	To struct {
		ID string `json:"id"`
	} `json:"to"`
	Types []associationType `json:"types"`
}

type associationType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

type note struct {
	Properties   map[string]string `json:"properties"`
	Associations []association     `json:"associations"`
}

func (p *Plan) createNote(id string) (*actions.HTTPRequest, error) {
	a := association{Types: []associationType{{"HUBSPOT_DEFINED", noteToContact}}}
	a.To.ID = id
	return p.request("POST", "/crm/v3/objects/notes", note{
		Properties: map[string]string{
			"hs_timestamp": time.UnixMilli(p.op.TimeMS).UTC().Format("2006-01-02T15:04:05.000Z"),
			"hs_note_body": p.noteBody(),
		},
		Associations: []association{a},
	})
}

// noteBody is the note's HTML: the direction, the text (escaped, line
// breaks kept) and the message id, which marks the note as this message's.
func (p *Plan) noteBody() string {
	label := "WhatsApp message received"
	if p.op.Direction == "sent" {
		label = "WhatsApp message sent"
	}
	text := strings.ReplaceAll(html.EscapeString(p.op.Text), "\n", "<br>")
	return "<p><strong>" + label + "</strong></p><p>" + text + "</p>" + p.marker()
}

// marker is the part of a note's body that names its message.
func (p *Plan) marker() string {
	return "<p>WhatsApp message id: " + html.EscapeString(p.op.MessageID) + "</p>"
}

// format prints a plan: each request as an HTTP message, under its
// condition.
func format(p *Plan) (string, error) {
	if p == nil {
		return "", fmt.Errorf("hubspot: no plan")
	}
	var b strings.Builder
	for i, s := range p.Steps {
		if i > 0 {
			b.WriteByte('\n')
		}
		switch {
		case s.When == "":
		case strings.Contains(s.Request.URL+s.Request.Body, ContactID):
			fmt.Fprintf(&b, "# then, if %s (%s is its id):\n", s.When, ContactID)
		default:
			fmt.Fprintf(&b, "# then, if %s:\n", s.When)
		}
		b.WriteString(s.Request.Format())
	}
	return b.String(), nil
}
