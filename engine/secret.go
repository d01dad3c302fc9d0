package engine

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// Secrets are written in rules files as ${ENV_VAR} and resolved at load;
// ${ENV_VAR:-default} gives a default for an unset or empty variable.
// Every value resolved this way, default or not, is treated as a secret: Redact replaces it with ***
// wherever it appears, so dry-run output, errors and logs never show it.

var envRef = regexp.MustCompile(`\$\$\{|\$\{([^}]*)\}`)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${VAR} in every scalar under n with the variable's
// value, in place. $${ stands for a literal ${. It records each value in
// secrets and reports unset or malformed references at their node.
func expandEnv(n *yaml.Node, lookup func(string) (string, bool), secrets map[string]string, errs *yamlx.List) {
	visited := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if visited++; visited > 1_000_000 {
			return
		}
		if n.Kind == yaml.ScalarNode {
			if !strings.Contains(n.Value, "${") {
				return
			}
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
				if ref == "$${" {
					return "${"
				}
				name, def, hasDef := strings.Cut(ref[2:len(ref)-1], ":-")
				if !envName.MatchString(name) {
					errs.Addf(n, "invalid environment variable reference %q", ref)
					return ref
				}
				v, ok := lookup(name)
				if !ok || (hasDef && v == "") {
					if !hasDef {
						errs.Addf(n, "environment variable %s is not set", name)
						return ref
					}
					// A default stands in for a secret: it is hidden too.
					v = def
				}
				if v != "" {
					secrets[name] = v
				}
				return v
			})
			// A resolved value is a string, whatever it looks like.
			n.Tag = "!!str"
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}

// redactor replaces secret values, in the forms they take in URLs and JSON
// too, with ***.
type redactor struct {
	r *strings.Replacer
}

func newRedactor(secrets map[string]string) *redactor {
	seen := map[string]bool{}
	var olds []string
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			olds = append(olds, s)
		}
	}
	for _, v := range secrets {
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		if b, err := json.Marshal(v); err == nil {
			add(strings.Trim(string(b), `"`))
		}
	}
	if len(olds) == 0 {
		return &redactor{}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, "***")
	}
	return &redactor{r: strings.NewReplacer(pairs...)}
}

func (r *redactor) redact(s string) string {
	if r == nil || r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// rejectEnv reports ${NAME} references under n: they are only resolved
// under destinations:, where secrets belong. A rendered request is stored
// in the delivery queue and must never carry one.
func rejectEnv(n *yaml.Node, errs *yamlx.List) {
	visited := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if visited++; visited > 1_000_000 {
			return
		}
		if n.Kind == yaml.ScalarNode {
			for _, m := range envRef.FindAllStringSubmatch(n.Value, -1) {
				if m[0] == "$${" {
					continue
				}
				name, _, _ := strings.Cut(m[1], ":-")
				if envName.MatchString(name) {
					errs.Addf(n, "${%s}: environment variables are resolved only under destinations: (they hold secrets, and rendered actions are stored); define a destination and refer to it", name)
					return
				}
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}
