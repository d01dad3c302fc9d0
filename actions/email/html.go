package email

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"

	"github.com/switchboard-dev/switchboard/actions"
)

// The html body is rendered with html/template semantics: each value taken
// from the payload is escaped for the place it lands in the author's HTML
// (text, a quoted or unquoted attribute, a URL, a script, a style), and a
// URL in an attribute such as href keeps only the http, https and mailto
// schemes (any other, javascript: included, becomes "#ZgotmplZ").
//
// The author's template is rendered with every value replaced by a hole
// mark; the resulting skeleton, which depends only on the rules file, is
// compiled once into an html/template whose actions are the values, and
// executed with them.

const (
	hole   = '\uE000'
	delimL = "\uE002"
	delimR = "\uE003"
)

var stripMarks = strings.NewReplacer("\uE000", "", delimL, "", delimR, "")

// htmlTemplates caches the compiled skeletons of one action's html.
type htmlTemplates struct {
	mu sync.Mutex
	m  map[string]*htmltemplate.Template
}

// maxSkeletons bounds the skeletons cached per action (one, unless the
// template's literal text varies, which it cannot today).
const maxSkeletons = 16

func (c *htmlTemplates) get(skeleton string) (*htmltemplate.Template, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.m[skeleton]; ok {
		return t, nil
	}
	var src strings.Builder
	n := 0
	for _, r := range skeleton {
		if r == hole {
			fmt.Fprintf(&src, "%sindex . %d%s", delimL, n, delimR)
			n++
			continue
		}
		src.WriteRune(r)
	}
	t, err := htmltemplate.New("html").Delims(delimL, delimR).Parse(src.String())
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*htmltemplate.Template{}
	}
	if len(c.m) < maxSkeletons {
		c.m[skeleton] = t
	}
	return t, nil
}

// renderHTML renders an html template, escaping each value by its place.
func (c *htmlTemplates) render(env actions.Env, t actions.Template) (string, error) {
	if !t.Set() {
		return "", nil
	}
	var vals []string
	skeleton, err := t.Render(env, func(v string) string {
		vals = append(vals, strings.ToValidUTF8(stripMarks.Replace(v), "\uFFFD"))
		return string(hole)
	})
	if err != nil {
		return "", err
	}
	if len(vals) == 0 {
		return strings.ToValidUTF8(skeleton, "\uFFFD"), nil // no value: the author's HTML as written
	}
	ht, err := c.get(skeleton)
	if err != nil {
		return "", fmt.Errorf("the html cannot be escaped: %v", err)
	}
	var b strings.Builder
	if err := ht.Execute(&b, vals); err != nil {
		return "", fmt.Errorf("the html cannot be escaped: %v", err)
	}
	return b.String(), nil
}
