package engine_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	return string(data)
}

// TestEnvNamesDocumented: every name a condition can use is in the README's
// table of names, and every name the table lists exists.
func TestEnvNamesDocumented(t *testing.T) {
	doc := readme(t)
	start := strings.Index(doc, "#### Names in conditions and templates")
	require.Positive(t, start)
	table := doc[start:]
	table = table[:strings.Index(table, "\n\n`type` shadows")]
	env := engine.NewEnv(&engine.Event{}, engine.Event{}.Time)
	for name := range env {
		if strings.HasPrefix(name, "__") {
			continue
		}
		require.Contains(t, table, "`"+name+"`", "README does not document %q", name)
	}
	for _, fn := range []string{"icontains(s, sub)", "phone(s)", "now()"} {
		require.Contains(t, table, "`"+fn+"`")
	}
	// Every name in the table's first column is real.
	for _, m := range regexp.MustCompile("(?m)^\\| (`[^|]+`) \\|").FindAllStringSubmatch(table, -1) {
		for _, name := range regexp.MustCompile("`([a-z_]+)").FindAllStringSubmatch(m[1], -1) {
			if _, ok := env[name[1]]; !ok && !strings.Contains("icontains phone now", name[1]) {
				t.Errorf("README documents %q, which is not in the environment", name[1])
			}
		}
	}
}

// TestReadmeExamplesLoad: every complete rules example in the README (a
// yaml block with a rules: key) loads.
func TestReadmeExamplesLoad(t *testing.T) {
	doc := readme(t)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	n := 0
	for _, b := range blocks {
		src := b[1]
		if !strings.Contains(src, "rules:") || strings.Contains(src, "tests:") {
			continue
		}
		n++
		o := opts()
		o.LookupEnv = func(name string) (string, bool) {
			if strings.HasSuffix(name, "_URL") {
				return "https://hooks.slack.com/services/T/B/x", true
			}
			if strings.HasSuffix(name, "_JSON") {
				return serviceAccountKey(t), true
			}
			return "123456:readme-secret-value", true // a token, a password
		}
		_, err := engine.Load(o, engine.Source{Name: "README.md", Data: []byte(src)})
		require.NoError(t, err, "README example:\n%s", src)
	}
	require.GreaterOrEqual(t, n, 4, "the README's examples were not found")
}

// serviceAccountKey is a Google service account's JSON key, for the
// sheets example.
func serviceAccountKey(t *testing.T) string {
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{"type": "service_account", "client_email": "sb@p.iam.gserviceaccount.com",
		"token_uri": "https://oauth2.googleapis.com/token", "private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	require.NoError(t, err)
	return string(key)
}

// TestTutorialSnippets: every snippet of the README's "Writing rules"
// walk-through loads, and the tests in it pass.
func TestTutorialSnippets(t *testing.T) {
	doc := readme(t)
	start := strings.Index(doc, "## Writing rules: from an empty file to a tested rule set")
	require.Positive(t, start)
	section := doc[start:]
	section = section[:strings.Index(section, "\n## The rules file")]
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1)
	require.Len(t, blocks, 3)
	for i, b := range blocks {
		o := opts()
		o.LookupEnv = func(string) (string, bool) { return "https://hooks.slack.com/services/T/B/x", true }
		rs, err := engine.Load(o, engine.Source{Name: "README.md", Data: []byte(b[1])})
		require.NoError(t, err, "snippet %d:\n%s", i+1, b[1])
		for _, r := range rs.RunTests() {
			require.True(t, r.Passed(), "snippet %d, test %q: %v", i+1, r.Case.Name, r.Failures)
		}
	}
}

// yamlKeys returns the keys a spec type reads (its yaml tags).
func yamlKeys(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			out = append(out, tag)
		}
	}
	return out
}

// TestRulesFileKeysDocumented: the README lists every top-level section of
// a rules file, and its table of rule keys is one table (no blank line
// cutting it) with a row for every key a rule reads.
func TestRulesFileKeysDocumented(t *testing.T) {
	doc := readme(t)
	file, rule, _ := engine.SpecTypes()
	start := strings.Index(doc, "A rules file has these sections")
	require.Positive(t, start)
	para := doc[start : start+strings.Index(doc[start:], "\n\n")]
	for _, k := range yamlKeys(file) {
		require.Contains(t, para, "`"+k+"`", "the list of sections misses %s", k)
	}
	start = strings.Index(doc, "### `rules:`")
	require.Positive(t, start)
	section := doc[start:]
	table := section[strings.Index(section, "| key |"):]
	table = table[:strings.Index(table, "\n\n")] // the table ends at the first blank line
	for _, k := range yamlKeys(rule) {
		require.Contains(t, table, "| `"+k+"` |", "the rule keys table misses %s (or a blank line cuts it)", k)
	}
}
