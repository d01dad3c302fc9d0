package hubspot

import (
	"maps"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/diag"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// destConfig is a destination as written in the rules file.
type destConfig struct {
	Token  string `yaml:"token"`
	APIURL string `yaml:"api_url"`
}

// actionConfig is a `hubspot:` action as written in the rules file.
type actionConfig struct {
	Destination string                      `yaml:"destination"`
	Do          string                      `yaml:"do"`
	Phone       actions.Template            `yaml:"phone"`
	Properties  map[string]actions.Template `yaml:"properties"`
	Text        actions.Template            `yaml:"text"`
	Direction   actions.Template            `yaml:"direction"`
	Time        actions.Template            `yaml:"time"`
	MessageID   actions.Template            `yaml:"message_id"`
}

// propertyName is a HubSpot property's internal name.
var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{Token: c.Token, APIURL: DefaultAPIURL}
	at := b.Field("token")
	if at == nil {
		at = b.Node
	}
	httpkit.CheckToken(b, at, "token", c.Token)
	if c.APIURL != "" {
		d.APIURL = httpkit.CheckAPIURL(b, b.Field("api_url"), "api_url", c.APIURL)
	}
	return d, b.Err()
}

// defaults are the templates of log_message's fields the action leaves
// out: the payload's own.
var defaults = map[string]string{
	"direction":  "{{ direction }}",
	"time":       "{{ timestamp }}",
	"message_id": "{{ message.id }}",
}

func compile(b *actions.Block, d *Destination) (actions.Renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	if d == nil {
		b.Errorf(nil, "destination is required: the name of a `kind: hubspot` destination")
		return nil, b.Err()
	}
	r := &renderer{do: c.Do, phone: c.Phone, text: c.Text, direction: c.Direction, time: c.Time, msgID: c.MessageID, props: c.Properties}
	switch c.Do {
	case "":
		b.Errorf(nil, "do is required: one of upsert_contact, log_message")
		return nil, b.Err()
	case UpsertContact, LogMessage:
	default:
		if s := diag.Suggest(c.Do, operations); s != "" {
			b.Errorf(b.Field("do"), "do: %q is not one of upsert_contact, log_message (did you mean %q?)", c.Do, s)
		} else {
			b.Errorf(b.Field("do"), "do: %q is not one of upsert_contact, log_message", c.Do)
		}
		return nil, b.Err()
	}
	if !c.Phone.Set() || c.Phone.Text.Source() == "" {
		b.Errorf(nil, "phone is required: the contact's number, such as \"{{ sender.phone }}\"")
	}
	only := func(field, op string, set bool) {
		if set && c.Do != op {
			b.Errorf(keyNode(b.Node, field), "%s is for do: %s", field, op)
		}
	}
	only("properties", UpsertContact, c.Properties != nil)
	only("text", LogMessage, c.Text.Set())
	only("direction", LogMessage, c.Direction.Set())
	only("time", LogMessage, c.Time.Set())
	only("message_id", LogMessage, c.MessageID.Set())
	switch c.Do {
	case UpsertContact:
		for _, name := range slices.Sorted(maps.Keys(c.Properties)) {
			at := keyNode(b.Field("properties"), name)
			switch {
			case name == "phone":
				b.Errorf(at, "properties: phone is set from phone: on a new contact, and is what finds the contact")
			case !propertyName.MatchString(name):
				b.Errorf(at, "properties: %q is not a HubSpot property's internal name (lower case, digits and _, such as firstname or hs_lead_status)", name)
			}
		}
	case LogMessage:
		if !c.Text.Set() || c.Text.Text.Source() == "" {
			b.Errorf(nil, "text is required: the note's text, such as \"{{ text }}\"")
		}
		for field, t := range map[string]*actions.Template{"direction": &r.direction, "time": &r.time, "message_id": &r.msgID} {
			if t.Set() || b.Compiler == nil {
				continue
			}
			tt, err := b.Compiler.CompileText(&yaml.Node{Kind: yaml.ScalarNode, Value: defaults[field], Line: b.Node.Line, Column: b.Node.Column})
			if err != nil {
				b.Errorf(nil, "%s: %v", field, err)
				continue
			}
			*t = actions.Template{Text: tt}
		}
	}
	return actions.RenderAs(r.render), b.Err()
}

// keyNode returns the key node of key in mapping m, for error positions.
func keyNode(m *yaml.Node, key string) *yaml.Node {
	for i := 0; m != nil && m.Kind == yaml.AliasNode && i < 100; i++ {
		m = m.Alias
	}
	if m == nil || m.Kind != yaml.MappingNode {
		return m
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return m
}
