package hubspot_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// fakeHubSpot is a loopback HubSpot CRM v3 API with the endpoints the kind
// uses, as developers.hubspot.com describes them: contacts search, create
// and update, notes search and create with associations. Requests need
// "Authorization: Bearer <token>" (else 401 INVALID_AUTHENTICATION);
// unknown properties are 400 VALIDATION_ERROR; errors are
// {"status":"error","message":...,"category":...}; when busy the search
// endpoint answers 429 with errorType RATE_LIMIT and policyName SECONDLY.
type fakeHubSpot struct {
	srv   *httptest.Server
	token string

	mu         sync.Mutex
	nextID     int
	contacts   map[string]map[string]string // id -> properties
	notes      map[string]fakeNote
	busy       int    // answer this many searches 429
	retryAfter string // the Retry-After of a 429 ("": none)
	received   []actionstest.Received
}

type fakeNote struct {
	Properties map[string]string
	ContactID  string
}

// knownProperties are the contact properties of the fake account.
var knownProperties = []string{"phone", "mobilephone", "firstname", "lastname", "email", "hs_lead_status", "lifecyclestage", "createdate"}

func newFakeHubSpot(t *testing.T, token string) *fakeHubSpot {
	f := &fakeHubSpot{token: token, nextID: 100, contacts: map[string]map[string]string{}, notes: map[string]fakeNote{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// addContact adds a contact as if made in HubSpot, and returns its id.
func (f *fakeHubSpot) addContact(props map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.create(props)
}

func (f *fakeHubSpot) create(props map[string]string) string {
	f.nextID++
	id := strconv.Itoa(f.nextID)
	p := map[string]string{"createdate": fmt.Sprintf("2024-01-01T00:00:%02dZ", f.nextID%60)}
	for k, v := range props {
		p[k] = v
	}
	f.contacts[id] = p
	return id
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func hsError(w http.ResponseWriter, code int, category, msg string) {
	answer(w, code, map[string]any{"status": "error", "message": msg, "correlationId": "3d1c7a1e-0000-4000-8000-000000000000", "category": category})
}

func (f *fakeHubSpot) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.received = append(f.received, actionstest.Received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		hsError(w, 401, "INVALID_AUTHENTICATION", "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
		return
	}
	if len(body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		hsError(w, 415, "", "Unsupported Media Type")
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, "/search") && f.busy > 0:
		f.busy--
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		answer(w, 429, map[string]any{"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT", "correlationId": "x", "policyName": "SECONDLY"})
	case r.Method == "GET" && path == "/crm/v3/objects/contacts":
		answer(w, 200, map[string]any{"results": []any{}})
	case r.Method == "POST" && path == "/crm/v3/objects/contacts/search":
		f.search(w, body, f.contacts, nil)
	case r.Method == "POST" && path == "/crm/v3/objects/notes/search":
		props := map[string]map[string]string{}
		assoc := map[string]string{}
		for id, n := range f.notes {
			props[id], assoc[id] = n.Properties, n.ContactID
		}
		f.search(w, body, props, assoc)
	case r.Method == "POST" && path == "/crm/v3/objects/contacts":
		var in struct{ Properties map[string]string }
		if json.Unmarshal(body, &in) != nil {
			hsError(w, 400, "VALIDATION_ERROR", "Invalid input JSON")
			return
		}
		if !f.valid(w, in.Properties) {
			return
		}
		id := f.create(in.Properties)
		answer(w, 201, map[string]any{"id": id, "properties": f.contacts[id], "archived": false})
	case r.Method == "PATCH" && strings.HasPrefix(path, "/crm/v3/objects/contacts/"):
		id := strings.TrimPrefix(path, "/crm/v3/objects/contacts/")
		c, ok := f.contacts[id]
		if !ok {
			hsError(w, 404, "OBJECT_NOT_FOUND", "resource not found")
			return
		}
		var in struct{ Properties map[string]string }
		if json.Unmarshal(body, &in) != nil || !f.valid(w, in.Properties) {
			return
		}
		for k, v := range in.Properties {
			c[k] = v
		}
		answer(w, 200, map[string]any{"id": id, "properties": c})
	case r.Method == "POST" && path == "/crm/v3/objects/notes":
		var in struct {
			Properties   map[string]string
			Associations []struct {
				To    struct{ ID string } `json:"to"`
				Types []struct {
					AssociationCategory string `json:"associationCategory"`
					AssociationTypeID   int    `json:"associationTypeId"`
				} `json:"types"`
			}
		}
		if json.Unmarshal(body, &in) != nil || in.Properties["hs_timestamp"] == "" {
			hsError(w, 400, "VALIDATION_ERROR", "Property values were not valid: hs_timestamp is required")
			return
		}
		if len(in.Associations) != 1 || len(in.Associations[0].Types) != 1 || in.Associations[0].Types[0].AssociationTypeID != 202 ||
			in.Associations[0].Types[0].AssociationCategory != "HUBSPOT_DEFINED" || f.contacts[in.Associations[0].To.ID] == nil {
			hsError(w, 400, "VALIDATION_ERROR", "One or more associations are invalid")
			return
		}
		f.nextID++
		id := strconv.Itoa(f.nextID)
		f.notes[id] = fakeNote{Properties: in.Properties, ContactID: in.Associations[0].To.ID}
		// HubSpot keeps hs_timestamp as epoch milliseconds for search.
		answer(w, 201, map[string]any{"id": id, "properties": in.Properties})
	default:
		hsError(w, 404, "OBJECT_NOT_FOUND", "Unable to route "+r.Method+" request with "+path)
	}
}

func (f *fakeHubSpot) valid(w http.ResponseWriter, props map[string]string) bool {
	for k := range props {
		if !slices.Contains(knownProperties, k) {
			hsError(w, 400, "VALIDATION_ERROR", fmt.Sprintf(`Property values were not valid: [{"isValid":false,"message":"Property \"%s\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"%s"}]`, k, k))
			return false
		}
	}
	return true
}

// search answers a CRM search over objects: filter groups ORed, filters
// in a group ANDed, operator EQ (associations.contact compares the
// associated contact's id, hs_timestamp an ISO time with epoch
// milliseconds), sorted by createdate ascending when asked, cut at limit.
func (f *fakeHubSpot) search(w http.ResponseWriter, body []byte, objects map[string]map[string]string, assoc map[string]string) {
	var q struct {
		FilterGroups []struct {
			Filters []struct{ PropertyName, Operator, Value string }
		}
		Sorts      []struct{ PropertyName, Direction string }
		Properties []string
		Limit      int
	}
	if json.Unmarshal(body, &q) != nil || len(q.FilterGroups) > 5 || q.Limit < 1 || q.Limit > 200 {
		hsError(w, 400, "VALIDATION_ERROR", "Invalid search request")
		return
	}
	var ids []string
	for id, props := range objects {
		for _, g := range q.FilterGroups {
			all := true
			for _, fl := range g.Filters {
				if fl.Operator != "EQ" {
					hsError(w, 400, "VALIDATION_ERROR", "unsupported operator "+fl.Operator)
					return
				}
				v := props[fl.PropertyName]
				switch fl.PropertyName {
				case "associations.contact":
					v = assoc[id]
				case "hs_timestamp":
					v = epochMS(v)
				}
				all = all && v == fl.Value
			}
			if all && len(g.Filters) > 0 {
				ids = append(ids, id)
				break
			}
		}
	}
	slices.SortFunc(ids, func(a, b string) int { return strings.Compare(objects[a]["createdate"]+a, objects[b]["createdate"]+b) })
	if len(ids) > q.Limit {
		ids = ids[:q.Limit]
	}
	results := []map[string]any{}
	for _, id := range ids {
		props := map[string]string{}
		for _, p := range q.Properties {
			props[p] = objects[id][p]
		}
		results = append(results, map[string]any{"id": id, "properties": props})
	}
	answer(w, 200, map[string]any{"total": len(ids), "results": results})
}

func epochMS(iso string) string {
	var y, mo, d, h, mi, s, ms int
	if _, err := fmt.Sscanf(iso, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &ms); err != nil {
		return iso
	}
	t := timeOf(y, mo, d, h, mi, s, ms)
	return strconv.FormatInt(t, 10)
}
