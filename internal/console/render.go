package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// pages are the parsed templates: one set per page (the layout and the
// page's file), by the page's name.
type pages struct {
	sets map[string]*template.Template
}

var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return ago(time.Since(t))
	},
	"dur":  func(d time.Duration) string { return d.Round(time.Microsecond).String() },
	"join": strings.Join,
	"short": func(s string, n int) string {
		r := []rune(s)
		if len(r) <= n {
			return s
		}
		return string(r[:n]) + "…"
	},
	"pretty": func(v any) string {
		var b []byte
		switch v := v.(type) {
		case []byte:
			b = v
		case string:
			b = []byte(v)
		case json.RawMessage:
			b = v
		}
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") != nil {
			return string(b)
		}
		return out.String()
	},
	"add":  func(a, b int) int { return a + b },
	"list": func(v ...string) []string { return v },
}

// ago says how long ago (or, for a future time, in how long) in words an
// operator reads at a glance.
func ago(d time.Duration) string {
	if d < 0 {
		return "in " + span(-d)
	}
	return span(d) + " ago"
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func parsePages() (*pages, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		p.sets[name] = t
	}
	return p, nil
}

// view is what the layout renders around a page.
type view struct {
	Title string
	Nav   string
	CSRF  string
	Page  any
}

// render writes a whole page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	v := view{Title: title, Nav: page, Page: data}
	if s := sessionOf(r); s != nil {
		v.CSRF = s.csrf
	}
	c.execute(w, status, page, "layout", v)
}

// fragment writes one named template of a page (an htmx swap).
func (c *Console) fragment(w http.ResponseWriter, r *http.Request, page, name string, data any) {
	v := view{Nav: page, Page: data}
	if s := sessionOf(r); s != nil {
		v.CSRF = s.csrf
	}
	c.execute(w, http.StatusOK, page, name, v)
}

func (c *Console) execute(w http.ResponseWriter, status int, page, name string, v view) {
	t := c.pages.sets[page]
	var buf bytes.Buffer
	if t == nil {
		c.opt.Logger.Error("console: no template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		c.opt.Logger.Error("console: rendering failed", "page", page, "template", name, "err", err)
		http.Error(w, "internal error while rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail shows an error on a page of its own.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(err.Error()))
		return
	}
	c.render(w, r, status, "error", http.StatusText(status), err.Error())
}
