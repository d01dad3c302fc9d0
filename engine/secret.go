package engine

import (
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
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
func expandEnv(n *yaml.Node, lookup func(string) (string, bool), secrets map[string]string, errs *diag.List) {
	replaceEnvRefs(n, func(n *yaml.Node, ref string) string {
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
			// A default is written in the rules file: not a secret (it is
			// still printed as *** where it is used, see maskEnv).
			return def
		}
		if v != "" {
			secrets[name] = v
		}
		return v
	})
}

// replaceEnvRefs replaces every ${...} reference in the scalars under n by
// what with returns for it ($${ always becomes a literal ${), and tags
// the scalars it changed as strings, whatever they look like.
func replaceEnvRefs(n *yaml.Node, with func(n *yaml.Node, ref string) string) {
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
				return with(n, ref)
			})
			n.Tag = "!!str"
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
}

// minRedacted is the shortest secret replaced wherever it appears in text.
const minRedacted = 3

// redactor replaces secret values, in the forms they take in URLs and JSON
// too, with ***.
type redactor struct {
	r       *strings.Replacer
	secrets map[string]string
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
		if len(v) < minRedacted {
			// Too short to find in text without mangling it ("x" in
			// "text"): such a value is hidden where it is used (masked
			// destinations, scrubbed URLs), not searched for.
			continue
		}
		add(v)
		add(url.QueryEscape(v))
		add(url.PathEscape(v))
		if b, err := json.Marshal(v); err == nil {
			add(strings.Trim(string(b), `"`))
		}
	}
	if len(olds) == 0 {
		return &redactor{secrets: secrets}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	pairs := make([]string, 0, 2*len(olds))
	for _, o := range olds {
		pairs = append(pairs, o, "***")
	}
	return &redactor{r: strings.NewReplacer(pairs...), secrets: secrets}
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
func rejectEnv(n *yaml.Node, errs *diag.List) {
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

// masked is what a ${VAR} reference shows as in printed requests.
const masked = "***"

// cloneNode deep-copies a YAML node.
func cloneNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = cloneNode(e)
	}
	return &c
}

// maskEnv replaces every ${VAR} reference under n by *** (and $${ by ${),
// so that a destination parsed from it prints its secrets as *** in the
// places they are used, and nowhere else.
//
// A reference that starts a value and resolves to a URL keeps the URL's
// scheme (https://***), so that a destination whose base URL is a secret
// still parses masked, and prints its other secrets (a short path segment,
// a query value) as *** too instead of falling back to replacing them as
// text (which leaves the shortest alone).
func maskEnv(n *yaml.Node, lookup func(string) (string, bool)) *yaml.Node {
	replaceEnvRefs(n, func(n *yaml.Node, ref string) string {
		name, def, _ := strings.Cut(ref[2:len(ref)-1], ":-")
		v, ok := lookup(name)
		if !ok || v == "" {
			v = def
		}
		if scheme, _, found := strings.Cut(v, "://"); found && urlScheme.MatchString(scheme) && strings.HasPrefix(n.Value, ref) {
			return scheme + "://" + masked
		}
		return masked
	})
	return n
}

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// maskDestinations parses every loaded destination again from masked (the
// destinations with their ${VAR}s as ***), for printed requests (see
// WireMasked). A destination that does not parse so (a port that is a
// secret, say) has none, and is printed with its secrets replaced as text.
func (l *loader) maskDestinations(masked *yaml.Node) {
	if masked == nil || masked.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(masked.Content); i += 2 {
		d := l.rs.Destinations[masked.Content[i].Value]
		v := masked.Content[i+1]
		if d == nil || d.masked != nil || v.Kind != yaml.MappingNode {
			continue
		}
		_, rest := splitKey(v, "kind")
		for _, k := range []string{"rate", "burst", "allow_private", "retry"} {
			_, rest = splitKey(rest, k)
		}
		if cfg, err := l.opts.Kinds[d.Kind].ParseDestination(&actions.Block{Node: rest}); err == nil {
			d.masked = cfg
		}
	}
}
