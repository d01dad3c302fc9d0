package engine_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

var (
	benchTypes = []string{"chat", "image", "document", "pdf", "audio", "video", "location", "reaction"}
	benchDirs  = []string{"received", "sent"}
)

// typicalRules builds n rules of four shapes, a quarter each, like a team's
// real rules: pinned to a type and direction, the same for one chat, a word
// in the text, and a set of types with an unindexed alternative.
func typicalRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		t, d := benchTypes[i%len(benchTypes)], benchDirs[(i/len(benchTypes))%2]
		var cond string
		switch i % 4 {
		case 0:
			cond = fmt.Sprintf(`type == %q && direction == %q`, t, d)
		case 1:
			cond = fmt.Sprintf(`type == %q && direction == %q && chat_id == "%d@c.us"`, t, d, 447000000000+i)
		case 2:
			cond = fmt.Sprintf(`direction == %q && icontains(text, "word%d")`, d, i)
		case 3:
			cond = fmt.Sprintf(`type in [%q, "pdf", "csv"] && (chat_type == "group" || user_email endsWith "@x%d.com")`, t, i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    when: '%s'\n    actions: [{log: {message: \"r%d {{ sender.wa_name }}\"}}]\n", i, cond, i)
	}
	return b.String()
}

// rareRules builds n rules pinned to a message type no sample has, plus
// one rule in a hundred that any chat can match: the shape where the index
// keeps large rule sets cheap.
func rareRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		cond := fmt.Sprintf(`type == "poll_v%d" && direction == "received"`, i%50)
		if i%100 == 0 {
			cond = fmt.Sprintf(`direction == "received" && icontains(text, "word%d")`, i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    when: '%s'\n    actions: [{log: {message: \"r%d\"}}]\n", i, cond, i)
	}
	return b.String()
}

func benchLoad(b *testing.B, src string) *engine.RuleSet {
	b.Helper()
	rs, err := engine.Load(opts(), engine.Source{Name: "bench.yaml", Data: []byte(src)})
	require.NoError(b, err)
	return rs
}

func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile("../testdata/cooby/received-document.json")
	require.NoError(b, err)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := engine.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	ev := payload(b, "received-chat.json")
	now := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name string
		src  func(int) string
	}{{"typical", typicalRules}, {"rare", rareRules}} {
		for _, n := range []int{1, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/rules=%d", tc.name, n), func(b *testing.B) {
				rs := benchLoad(b, tc.src(n))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := rs.Plan(ev, engine.PlanOptions{Now: now}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPlanUnindexed evaluates rules the index cannot skip: the cost
// per rule of the condition itself.
func BenchmarkPlanUnindexed(b *testing.B) {
	ev := payload(b, "received-chat.json")
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range 1000 {
		fmt.Fprintf(&src, "  - name: r%d\n    when: 'chat_id == \"%d@c.us\" && icontains(text, \"word%d\")'\n    actions: [{log: {message: x}}]\n", i, i, i)
	}
	rs := benchLoad(b, src.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1, 0)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	rs := benchLoad(b, `
destinations:
  team: {kind: slack, webhook_url: "https://hooks.slack.com/services/T/B/x"}
rules:
  - name: all
    when: true
    actions:
      - http: {url: "https://crm.example.com/c/{{ sender.phone }}", body: {t: "{{ text }}", n: "{{ chat_title }}", id: "{{ message.id }}", at: "{{ time }}"}}
      - slack: {destination: team, text: "*{{ chat_title }}*: {{ sender.wa_name }} wrote {{ text }}"}
`)
	ev := payload(b, "received-group-chat.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.Plan(ev, engine.PlanOptions{Now: time.Unix(1, 0)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad1000 loads 1,000 typical rules: cold compiles every
// expression (a first start, or a file where everything changed); warm
// finds them in the program cache (a reload where few rules changed).
func BenchmarkLoad1000(b *testing.B) {
	src := typicalRules(1000)
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			engine.ResetProgramCache()
			benchLoad(b, src)
		}
	})
	b.Run("warm", func(b *testing.B) {
		benchLoad(b, src)
		b.ReportAllocs()
		for b.Loop() {
			benchLoad(b, src)
		}
	})
}

// TestNonMatchingRulesDoNotAllocate: the allocations of one evaluation
// must not grow with the number of rules that do not match.
func TestNonMatchingRulesDoNotAllocate(t *testing.T) {
	ev := payload(t, "received-chat.json")
	now := time.Unix(1700000000, 0)
	allocs := func(src string) float64 {
		rs, err := engine.Load(opts(), engine.Source{Name: "r.yaml", Data: []byte(src)})
		require.NoError(t, err)
		return testing.AllocsPerRun(300, func() { _, _ = rs.Plan(ev, engine.PlanOptions{Now: now}) })
	}
	var few, many strings.Builder
	few.WriteString("rules:\n")
	many.WriteString("rules:\n")
	for i := range 1000 {
		line := fmt.Sprintf("  - name: r%d\n    when: 'chat_id == \"%d@c.us\" && lower(text) contains \"w%d\"'\n    actions: [{log: {message: x}}]\n", i, i, i)
		if i < 10 {
			few.WriteString(line)
		}
		many.WriteString(line)
	}
	// 990 more rules that do not match must not add allocations. (The
	// bound is loose only because the race detector makes sync.Pool drop
	// buffers at random; one allocation per rule would add 990.)
	fewA, manyA := allocs(few.String()), allocs(many.String())
	require.Less(t, manyA-fewA, 5.0, "few rules: %v allocs, many rules: %v allocs", fewA, manyA)
}
