package engine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-dev/switchboard/engine"
)

func addSamples(f *testing.F) {
	files, _ := filepath.Glob("../testdata/cooby/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(`{"timestamp":1,"message":null,"participants":null}`))
	f.Add([]byte(`{"message":{"text":"{{ 1 }} <!channel> \r\nBcc: x"}}`))
}

// FuzzDecode: no input makes Decode panic, and a decoded event always
// evaluates safely.
func FuzzDecode(f *testing.F) {
	addSamples(f)
	rs, err := engine.LoadFiles(opts(), "../rules.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := engine.Decode(data)
		if err != nil {
			return
		}
		if _, err := rs.Plan(ev, engine.PlanOptions{Explain: true}); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRender: every payload renders through every action kind of the
// example rules without panicking, and every rendered request is JSON.
func FuzzRender(f *testing.F) {
	addSamples(f)
	rs, err := engine.Load(opts(), engine.Source{Name: "r.yaml", Data: []byte(`
destinations:
  team: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
  mail: {kind: email, smtp: "smtp.example.com:587", from: "bot@example.com"}
rules:
  - name: all
    when: true
    actions:
      - http: {url: "https://crm.example.com/c/{{ sender.phone }}", query: {q: "{{ text }}"}, body: {t: "{{ text }}", n: "{{ chat_title }}"}}
      - slack: {destination: team, text: "{{ sender.wa_name }}: {{ text }}"}
      - email: {destination: mail, to: ["a@example.com"], subject: "{{ chat_title }}", text: "{{ text }}", html: "<p>{{ text }}</p>"}
      - log: {message: "{{ text }}"}
`)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := engine.Decode(data)
		if err != nil {
			return
		}
		p, err := rs.Plan(ev, engine.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range p.Matches {
			for _, a := range m.Actions {
				if a.Err == nil && !jsonValid(a.Request.Body) {
					t.Fatalf("%s rendered invalid JSON: %s", a.Action.Kind, a.Request.Body)
				}
			}
		}
	})
}

// FuzzLoad: no rules file makes Load panic.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"../rules.example.yaml"} {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("rules:\n  - &a {name: x, when: true, actions: [*a]}\n"))
	f.Add([]byte("a: &a [*a, *a, *a]\nrules: *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = engine.Load(opts(), engine.Source{Name: "f.yaml", Data: data})
	})
}

func jsonValid(b []byte) bool { return json.Valid(b) }
