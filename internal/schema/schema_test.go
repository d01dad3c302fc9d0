package schema_test

import (
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions/builtin"
	"github.com/switchboard-dev/switchboard/internal/schema"
)

var update = flag.Bool("update", false, "rewrite schema/rules.schema.json")

const path = "../../schema/rules.schema.json"

// TestSchemaUpToDate fails when the Go types of rules files change and the
// committed schema was not regenerated (go test ./internal/schema -update).
func TestSchemaUpToDate(t *testing.T) {
	got, err := schema.Generate(builtin.Kinds())
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "schema is stale: run go test ./internal/schema -update")
}

// TestExampleUsesOnlySchemaKeys walks rules.example.yaml and checks that
// every key it uses is a property the schema declares at that place.
func TestExampleUsesOnlySchemaKeys(t *testing.T) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var s map[string]any
	require.NoError(t, json.Unmarshal(raw, &s))
	data, err := os.ReadFile("../../rules.example.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	props := s["properties"].(map[string]any)
	for k := range doc {
		require.Contains(t, props, k)
	}
	ruleProps := props["rules"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any)
	actionKinds := map[string]map[string]any{}
	for _, a := range ruleProps["actions"].(map[string]any)["items"].(map[string]any)["oneOf"].([]any) {
		for kind, v := range a.(map[string]any)["properties"].(map[string]any) {
			if kind == "name" { // the action's name:, beside its kind
				continue
			}
			actionKinds[kind] = v.(map[string]any)["properties"].(map[string]any)
		}
	}
	for _, r := range doc["rules"].([]any) {
		for k, v := range r.(map[string]any) {
			require.Contains(t, ruleProps, k)
			if k != "actions" {
				continue
			}
			for _, a := range v.([]any) {
				for kind, body := range a.(map[string]any) {
					if kind == "name" {
						continue
					}
					require.Contains(t, actionKinds, kind)
					for field := range body.(map[string]any) {
						require.Contains(t, actionKinds[kind], field, "%s.%s", kind, field)
					}
				}
			}
		}
	}
}
