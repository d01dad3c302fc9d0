// Package schema generates the JSON Schema of rules files
// (schema/rules.schema.json) from the Go types the loader decodes into, so
// that editors with the YAML language server complete and validate rules
// files. TestSchemaUpToDate keeps the committed file in step with the code.
package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/engine"
)

// obj is a JSON Schema object; encoding/json sorts its keys.
type obj = map[string]any

var (
	templateType = reflect.TypeFor[actions.Template]()
	valueType    = reflect.TypeFor[actions.Value]()
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
)

// ruleOverrides describe fields the loader reads from raw YAML nodes.
func ruleOverrides(actionsSchema any) map[string]any {
	return map[string]any{
		"name":    obj{"type": "string", "minLength": 1, "description": "unique rule name"},
		"when":    obj{"type": []string{"string", "boolean"}, "description": "expr condition; must be true or false"},
		"actions": obj{"type": "array", "items": actionsSchema, "minItems": 1},
	}
}

// Generate returns the schema for the given action kinds, indented JSON.
func Generate(kinds map[string]actions.Kind) ([]byte, error) {
	names := make([]string, 0, len(kinds))
	for n := range kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	var dests, acts []any
	for _, n := range names {
		c, ok := kinds[n].(actions.Configurer)
		if !ok {
			return nil, fmt.Errorf("action kind %q does not implement actions.Configurer", n)
		}
		d, a := c.ConfigTypes()
		ds := typeSchema(reflect.TypeOf(d), nil)
		ds["properties"].(obj)["kind"] = obj{"const": n}
		ds["properties"].(obj)["rate"] = obj{"type": "string", "pattern": `^(none|[0-9.]+/(s|m|h|[0-9.]+(ms|s|m|h)))$`,
			"description": "at most this many sends per unit: 1/s, 30/m, 100/10s, or none"}
		ds["properties"].(obj)["burst"] = obj{"type": "integer", "minimum": 1, "description": "sends allowed at once above the rate"}
		ds["properties"].(obj)["allow_private"] = obj{"type": "boolean", "description": "let deliveries reach private and local addresses (refused by default)"}
		ds["properties"].(obj)["retry"] = obj{"type": "object", "additionalProperties": false,
			"description": "this destination's retry policy instead of the service's",
			"properties": obj{
				"schedule": obj{"type": "array", "minItems": 1, "maxItems": actions.MaxSchedule, "description": "the delay before each retry, such as [5s, 1m, 10m]",
					"items": obj{"type": "string", "pattern": `^([0-9.]+(ns|us|µs|ms|s|m|h))+$|^0$`}},
				"max_age": obj{"type": "string", "pattern": `^([0-9.]+(ns|us|µs|ms|s|m|h))+$`, "description": "how long after it was enqueued a delivery is still tried, such as 24h"},
			}}
		ds["required"] = []string{"kind"}
		ds["title"] = n + " destination"
		dests = append(dests, ds)
		as := typeSchema(reflect.TypeOf(a), nil)
		acts = append(acts, obj{
			"type": "object", "title": n + " action",
			"properties":           obj{n: as, "name": obj{"type": "string", "minLength": 1, "description": "the action's name, shown with its number in every output"}},
			"required":             []string{n},
			"additionalProperties": false,
		})
	}
	actionSchema := obj{"oneOf": acts}
	file, rule, test := engine.SpecTypes()
	testSchema := typeSchema(reflect.TypeOf(test), map[string]any{
		"payload":         obj{"type": []string{"string", "object"}, "description": "a JSON file relative to the rules file, or an inline payload"},
		"expect":          obj{"type": "array", "items": obj{"type": "string"}, "description": "matched rule names, in order, and no other"},
		"expect_includes": obj{"type": "array", "items": obj{"type": "string"}, "description": "rule names that must be among those that match"},
		"expect_excludes": obj{"type": "array", "items": obj{"type": "string"}, "description": "rule names that must not match"},
		"at":              obj{"type": "string", "format": "date-time"},
	})
	testSchema["properties"].(obj)["actions"].(obj)["items"].(obj)["properties"].(obj)["action"] = obj{
		"type": []string{"integer", "string"}, "description": "the action's number in the rule (from 1) or its name; default 1"}
	// The top level comes from the file's Go type too, so that a new key
	// appears here without a change to the generator.
	root := typeSchema(reflect.TypeOf(file), map[string]any{
		"destinations": obj{"type": "object", "additionalProperties": obj{"oneOf": dests}},
		"rules":        obj{"type": "array", "items": typeSchema(reflect.TypeOf(rule), ruleOverrides(actionSchema))},
		"on_dead_letter": obj{"description": "the destination that receives a summary of new dead letters", "oneOf": []any{
			obj{"type": "string"},
			obj{"type": "object", "additionalProperties": false, "required": []string{"destination"}, "properties": obj{
				"destination": obj{"type": "string"},
				"every":       obj{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "at most one summary per this window (default 15m)"},
			}},
		}},
		"tests": obj{"oneOf": []any{
			obj{"type": "string", "description": "a YAML file of test cases, relative to the rules file"},
			obj{"type": "array", "items": testSchema},
		}},
	})
	root["$schema"] = "http://json-schema.org/draft-07/schema#"
	root["$id"] = "https://raw.githubusercontent.com/switchboard-dev/switchboard/main/schema/rules.schema.json"
	root["title"] = "Switchboard rules file"
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	return []byte(b.String()), nil
}

// typeSchema describes a Go type as the yamlx decoder reads it.
func typeSchema(t reflect.Type, overrides map[string]any) obj {
	for t.Kind() == reflect.Pointer && t != nodeType {
		t = t.Elem()
	}
	switch t {
	case templateType:
		return obj{"type": "string", "description": "template: {{ expr }} parts are evaluated per message"}
	case valueType, nodeType:
		return obj{}
	case durationType:
		return obj{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`}
	}
	switch t.Kind() {
	case reflect.Struct:
		props := obj{}
		for i := range t.NumField() {
			f := t.Field(i)
			tag, ok := f.Tag.Lookup("yaml")
			name, _, _ := strings.Cut(tag, ",")
			if !ok || !f.IsExported() || name == "" || name == "-" {
				continue
			}
			if o, ok := overrides[name]; ok {
				props[name] = o
				continue
			}
			props[name] = typeSchema(f.Type, nil)
		}
		return obj{"type": "object", "properties": props, "additionalProperties": false}
	case reflect.Slice:
		return obj{"type": "array", "items": typeSchema(t.Elem(), nil)}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": typeSchema(t.Elem(), nil)}
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// ${ENV} values arrive as strings and are converted at load.
		return obj{"type": []string{"integer", "string"}}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	}
	return obj{}
}
