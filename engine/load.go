package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/diag"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/yamlx"
)

// Options configure Load. Kinds is required.
type Options struct {
	// Kinds are the action kinds by name (see actions/builtin).
	Kinds map[string]actions.Kind
	// LookupEnv resolves ${VAR} references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile reads the files rules files name (a `tests:` file, test
	// payloads, list files), by their path relative to the rules file's;
	// nil means os.ReadFile. Every file read is part of the version.
	// Commands and the service pass a reload.Snapshot's, so that each file
	// is read once per load; rules posted to the service read none of its
	// files (see NoFiles).
	ReadFile func(name string) ([]byte, error)
	// ReadSecretFile reads a file a destination names (a key file: a
	// secret); nil means ReadFile. `diff`, which sends the files the rules
	// name to the service, refuses them, so that no key is ever sent.
	ReadSecretFile func(name string) ([]byte, error)
}

// NoFiles is an Options.ReadFile for rules that must not read files of
// the machine they are checked on (rules posted to the service's API):
// every file they name is refused.
func NoFiles(name string) ([]byte, error) {
	return nil, fmt.Errorf("%s: rules sent to the service cannot name files; send the file with them or write the tests and payloads inline", filepath.Base(name))
}

// Source is one rules file's name (as it appears in errors) and content.
type Source struct {
	Name string
	Data []byte
}

// fileSpec is the top level of a rules file.
type fileSpec struct {
	Destinations *yaml.Node        `yaml:"destinations"`
	Team         []string          `yaml:"team"`
	Conversation *conversationSpec `yaml:"conversation"`
	Timezone     string            `yaml:"timezone"`
	Rules        []ruleSpec        `yaml:"rules"`
	Tests        *yaml.Node        `yaml:"tests"`
	Lists        *yaml.Node        `yaml:"lists"`
	OnDeadLetter *yaml.Node        `yaml:"on_dead_letter"`
}

// ruleSpec is one entry of `rules:` as written.
type ruleSpec struct {
	Name        *yaml.Node    `yaml:"name"`
	Description string        `yaml:"description"`
	When        *yaml.Node    `yaml:"when"`
	Actions     []*yaml.Node  `yaml:"actions"`
	Enabled     *bool         `yaml:"enabled"`
	Stop        bool          `yaml:"stop"`
	Dedupe      *bool         `yaml:"dedupe"`
	After       time.Duration `yaml:"after"`
	Schedule    *yaml.Node    `yaml:"schedule"`
	Throttle    *throttleSpec `yaml:"throttle"`
	Group       *groupSpec    `yaml:"group"`
	Timezone    string        `yaml:"timezone"`
	Missed      string        `yaml:"missed"`
	ForEach     string        `yaml:"for_each"`
	node        *yaml.Node
}

// Load checks and compiles rules files into a RuleSet: every problem in
// every file is reported, each as "file:line:col: message", in a
// *diag.ListError. Nothing is half-loaded: on error the RuleSet is nil.
func Load(opts Options, srcs ...Source) (*RuleSet, error) {
	if opts.Kinds == nil {
		return nil, errors.New("engine.Load: no action kinds registered")
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	// Every file the rules name (a tests: file, test payloads, list
	// files) is part of the version, in the order read.
	var extra []byte
	read := opts.ReadFile
	opts.ReadFile = func(name string) ([]byte, error) {
		data, err := read(name)
		if err == nil {
			extra = fmt.Appendf(extra, "file\x00%s\x00%d\x00", filepath.Clean(name), len(data))
			extra = append(extra, data...)
		}
		return data, err
	}
	l := &loader{
		opts:     opts,
		rs:       &RuleSet{Destinations: map[string]*Destination{}},
		secrets:  map[string]string{},
		names:    map[string]*Rule{},
		badDests: map[string]bool{},
	}
	h := sha256.New()
	docs := make([]*yaml.Node, len(srcs))
	perrs := make([]*diag.Error, len(srcs))
	for i, src := range srcs {
		docs[i], perrs[i] = yamlx.Parse(src.Data)
	}
	named := testsFiles(srcs, docs)
	for i, src := range srcs {
		fmt.Fprintf(h, "%s\x00%d\x00", src.Name, len(src.Data))
		h.Write(src.Data)
		if named[filepath.Clean(src.Name)] {
			// A tests file beside the rules (--rules DIR loads every
			// *.yaml): it is read as the tests of the file that names it.
			continue
		}
		l.loadFile(src, docs[i], perrs[i])
	}
	h.Write(extra) // the files the rules name, so that a change of one is a new version
	l.checkTestRefs()
	l.checkListRefs()
	l.checkDeadLetter()
	if l.errs.Len() > 0 {
		// Error messages may quote configuration values: never a secret,
		// whole or cut.
		for _, e := range l.errs.Errs {
			e.Msg = scrubError(e.Msg, l.secrets)
		}
		return nil, l.errs.Err()
	}
	for _, w := range l.warns.Errs {
		w.Msg = scrubError(w.Msg, l.secrets)
	}
	rs := l.rs
	if err := l.warns.Err(); err != nil {
		rs.Warnings = err.(*diag.ListError).Errs
	}
	rs.Version = hex.EncodeToString(h.Sum(nil))[:12]
	rs.redactor = newRedactor(l.secrets)
	rs.kinds = l.opts.Kinds
	if rs.quiet == nil {
		rs.quiet = quietSet(DefaultIgnoreTypes)
	}
	rs.buildIndex()
	return rs, nil
}

type loader struct {
	opts    Options
	rs      *RuleSet
	errs    diag.List
	secrets map[string]string
	names   map[string]*Rule
	// badDests are destinations that failed to load: actions that refer to
	// them are not reported again as referring to an unknown destination.
	badDests map[string]bool
	// convFile is where `conversation:` was set ("file:line"), if it was.
	convFile string
	// listDefs are where the lists were defined; listRefs the lists the
	// conditions name (checked once every file is loaded).
	listDefs map[string]listDef
	listRefs []listRef
	// lines are the lines of the file being loaded.
	lines []string
	// warns are the warnings, with their files.
	warns diag.List
	// deadLetter is the on_dead_letter: read, if any.
	deadLetter *deadLetterRef
}

// shiftBlockColumns corrects the columns of problems found inside block
// scalars (when: |, text: >): the expression compiler positions them
// assuming the content is indented one column past the indicator, since a
// yaml.Node does not record the content's indentation; the file's lines do.
func shiftBlockColumns(doc *yaml.Node, lines []string, errs []*diag.Error, file string) {
	type block struct{ from, to, shift int }
	var blocks []block
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if depth > maxValueDepth+8 {
			return
		}
		if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			indent := -1
			to := n.Line
			for i := n.Line; i < len(lines); i++ { // lines[i] is file line i+1
				text := strings.TrimRight(lines[i], " \t\r")
				if text == "" {
					continue
				}
				lead := len(text) - len(strings.TrimLeft(text, " "))
				if indent < 0 {
					indent = lead
				}
				if lead < indent || indent == 0 {
					break
				}
				to = i + 1
			}
			if indent > 0 {
				blocks = append(blocks, block{n.Line + 1, to, indent + 1 - (n.Column + 1)})
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(doc, 0)
	for _, e := range errs {
		if e.File != "" && e.File != file {
			continue
		}
		for _, b := range blocks {
			if e.Line >= b.from && e.Line <= b.to {
				e.Column = max(e.Column+b.shift, 1)
				break
			}
		}
	}
}

// testsFiles returns the files that sources name under a top-level
// `tests:` (cleaned paths): tests files, not rules files.
func testsFiles(srcs []Source, docs []*yaml.Node) map[string]bool {
	out := map[string]bool{}
	for i, doc := range docs {
		if doc == nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		root := doc.Content[0]
		for j := 0; j+1 < len(root.Content); j += 2 {
			if v := root.Content[j+1]; root.Content[j].Value == "tests" && v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
				out[filepath.Clean(relative(srcs[i].Name, v.Value))] = true
			}
		}
	}
	return out
}

func (l *loader) loadFile(src Source, doc *yaml.Node, perr *diag.Error) {
	var fileErrs diag.List
	l.lines = strings.Split(string(src.Data), "\n")
	nwarns := l.warns.Len()
	defer func() {
		for _, w := range l.warns.Errs[nwarns:] {
			w.File = src.Name
		}
		if doc != nil {
			shiftBlockColumns(doc, l.lines, slices.Concat(fileErrs.Errs, l.warns.Errs[nwarns:]), src.Name)
		}
		fileErrs.SetFile(src.Name)
		l.errs.Add(fileErrs.Errs...)
	}()
	l.rs.Files = append(l.rs.Files, src.Name)
	if perr != nil {
		fileErrs.Add(perr)
		return
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return // an empty file holds no rules
	}
	if root := doc.Content[0]; root.Kind == yaml.SequenceNode {
		fileErrs.Addf(root, "expected a rules file (a mapping of rules:, destinations:, tests: ...), got a list; "+
			"if this is a list of tests, name it in the rules file (tests: %s)", filepath.Base(src.Name))
		return
	}
	var spec fileSpec
	fileErrs.Add(yamlx.Decode(doc, &spec)...)
	if root := doc.Content[0]; root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "rules" {
				for j, r := range root.Content[i+1].Content {
					if j < len(spec.Rules) {
						spec.Rules[j].node = r
					}
				}
			}
		}
	}
	if spec.Conversation != nil {
		l.loadConversation(spec.Conversation, doc.Content[0], src.Name, &fileErrs)
	}
	for _, p := range spec.Team {
		if n := NormalizePhone(p); n != "" {
			l.rs.Team = append(l.rs.Team, n)
		} else {
			fileErrs.Addf(doc.Content[0], "team: %q is not a phone number", p)
		}
	}
	if spec.Destinations != nil {
		masked := maskEnv(cloneNode(spec.Destinations), l.opts.LookupEnv)
		expandEnv(spec.Destinations, l.opts.LookupEnv, l.secrets, &fileErrs)
		l.loadDestinations(spec.Destinations, src.Name, &fileErrs)
		l.maskDestinations(masked)
	}
	if spec.OnDeadLetter != nil {
		l.loadDeadLetter(keyNode(doc.Content[0], "on_dead_letter"), spec.OnDeadLetter, src.Name, &fileErrs)
	}
	zone := spec.Timezone
	if zone != "" {
		if e := checkZone(zone, keyValue(doc.Content[0], "timezone")); e != nil {
			fileErrs.Add(e)
			zone = "" // reported once, here, not at every rule that uses it
		}
	}
	if spec.Lists != nil {
		l.loadLists(spec.Lists, src.Name, &fileErrs)
	}
	for i := range spec.Rules {
		l.loadRule(&spec.Rules[i], zone, src.Name, &fileErrs)
	}
	if spec.Tests != nil {
		l.rs.Tests = append(l.rs.Tests, loadTests(spec.Tests, src.Name, &fileErrs, l.opts.ReadFile)...)
	}
}

func (l *loader) loadDestinations(n *yaml.Node, file string, errs *diag.List) {
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() != "!!null" {
			errs.Addf(n, "destinations: expected a mapping of names to destinations, got %s", yamlx.Describe(n))
		}
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if prev, dup := l.rs.Destinations[name]; dup {
			errs.Addf(k, "destination %q already defined at %s:%d", name, prev.File, prev.Line)
			continue
		}
		if v.Kind != yaml.MappingNode {
			errs.Addf(v, "destination %q: expected a mapping with a kind, got %s", name, yamlx.Describe(v))
			continue
		}
		kindNode, rest := splitKey(v, "kind")
		if kindNode == nil {
			errs.Addf(k, "destination %q: missing kind (one of %s)", name, l.kindList())
			continue
		}
		kind, ok := l.opts.Kinds[kindNode.Value]
		if !ok {
			errs.Add(l.unknownKind(kindNode, kindNode.Value))
			continue
		}
		rateNode, rest := splitKey(rest, "rate")
		burstNode, rest := splitKey(rest, "burst")
		privateNode, rest := splitKey(rest, "allow_private")
		retryNode, rest := splitKey(rest, "retry")
		allowPrivate := false
		if privateNode != nil {
			switch privateNode.Value {
			case "true":
				allowPrivate = true
			case "false":
			default:
				errs.Addf(privateNode, "allow_private: expected true or false, got %q", privateNode.Value)
				l.badDests[name] = true
				continue
			}
		}
		readSecret := l.opts.ReadFile
		if l.opts.ReadSecretFile != nil {
			readSecret = l.opts.ReadSecretFile
		}
		b := &actions.Block{Node: rest, ReadFile: func(p string) ([]byte, error) { return readSecret(relative(file, p)) }}
		cfg, err := kind.ParseDestination(b)
		if err != nil {
			errs.AddErr(v, err)
			l.badDests[name] = true
			continue
		}
		rate, ok := destinationRate(kind, cfg, rateNode, burstNode, errs)
		if !ok {
			l.badDests[name] = true
			continue
		}
		retry, ok := destinationRetry(retryNode, errs)
		if !ok {
			l.badDests[name] = true
			continue
		}
		l.rs.Destinations[name] = &Destination{Name: name, Kind: kindNode.Value, Config: cfg, Rate: rate, Retry: retry, AllowPrivate: allowPrivate, File: file, Line: k.Line}
	}
}

// splitKey returns the value of key in mapping n and a copy of n without it.
func splitKey(n *yaml.Node, key string) (value, rest *yaml.Node) {
	cp := *n
	cp.Content = nil
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && value == nil {
			value = n.Content[i+1]
			continue
		}
		cp.Content = append(cp.Content, n.Content[i], n.Content[i+1])
	}
	return value, &cp
}

// destinationRate reads a destination's `rate:` and `burst:`, or the
// kind's default rate when there is no `rate:`.
func destinationRate(kind actions.Kind, cfg any, rateNode, burstNode *yaml.Node, errs *diag.List) (actions.Rate, bool) {
	burst := 0
	if burstNode != nil {
		n, err := strconv.Atoi(burstNode.Value)
		if err != nil || n <= 0 || burstNode.Kind != yaml.ScalarNode {
			got := burstNode.Value
			if burstNode.Kind != yaml.ScalarNode {
				got = yamlx.Describe(burstNode)
			}
			errs.Addf(burstNode, "burst: expected a positive number of sends, got %s", got)
			return actions.Rate{}, false
		}
		burst = n
	}
	if rateNode == nil {
		if d, ok := kind.(actions.RateDefaulter); ok {
			if r := d.DefaultRate(cfg); r.Limited() {
				if burst > 0 {
					r.Burst = burst
				}
				return r, true
			}
		}
		if burstNode != nil {
			errs.Addf(burstNode, "burst: needs a rate: (such as rate: 1/s)")
			return actions.Rate{}, false
		}
		return actions.Rate{}, true
	}
	if rateNode.Kind != yaml.ScalarNode {
		errs.Addf(rateNode, "rate: expected a number of sends per unit, such as 1/s, got %s", yamlx.Describe(rateNode))
		return actions.Rate{}, false
	}
	r, err := actions.ParseRate(rateNode.Value, burst)
	if err != nil {
		errs.Addf(rateNode, "%v", err)
		return actions.Rate{}, false
	}
	return r, true
}

func (l *loader) kindList() string {
	names := make([]string, 0, len(l.opts.Kinds))
	for k := range l.opts.Kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (l *loader) unknownKind(n *yaml.Node, name string) *diag.Error {
	names := strings.Split(l.kindList(), ", ")
	if s := diag.Suggest(name, names); s != "" {
		return diag.At(n, "unknown action kind %q (did you mean %q?)", name, s)
	}
	return diag.At(n, "unknown action kind %q (known: %s)", name, l.kindList())
}

func (l *loader) loadRule(spec *ruleSpec, zone, file string, errs *diag.List) {
	r := &Rule{
		File: file, Enabled: spec.Enabled == nil || *spec.Enabled, Stop: spec.Stop, Description: spec.Description,
		Dedupe: spec.Dedupe == nil || *spec.Dedupe,
		After:  spec.After,
	}
	at := spec.node
	if at != nil {
		r.Line = at.Line
	}
	switch {
	case spec.Name == nil || strings.TrimSpace(spec.Name.Value) == "":
		errs.Addf(at, "rule has no name")
		r.Name = fmt.Sprintf("#%d", len(l.rs.Rules)+1)
	case spec.Name.Kind != yaml.ScalarNode:
		errs.Addf(spec.Name, "name: expected a string, got %s", yamlx.Describe(spec.Name))
	default:
		r.Name = spec.Name.Value
		if prev, dup := l.names[r.Name]; dup {
			errs.Addf(spec.Name, "duplicate rule name %q (first defined at %s:%d)", r.Name, prev.File, prev.Line)
		} else {
			l.names[r.Name] = r
		}
	}
	if spec.When == nil {
		errs.Addf(at, "rule %q has no condition (when:); write `when: true` to match every message", r.Name)
	} else if e := l.cutByComment(spec.When); e != nil {
		errs.Add(e)
	} else if err := r.compileWhen(spec.When); err != nil {
		errs.AddErr(spec.When, err)
	} else {
		l.warns.Add(typeWarnings(spec.When)...)
		l.listRefs = append(l.listRefs, listRefs(spec.When, file)...)
	}
	l.loadSchedule(r, spec, zone, errs)
	l.loadThrottle(r, spec, errs)
	l.loadGroup(r, spec, errs)
	if len(spec.Actions) == 0 && at != nil {
		errs.Addf(at, "rule %q has no actions", r.Name)
	}
	for _, an := range spec.Actions {
		rejectEnv(an, errs)
		if a, ok := l.loadAction(an, errs); ok {
			a.Index = len(r.Actions)
			if a.Name != "" && slices.ContainsFunc(r.Actions, func(b Action) bool { return b.Name == a.Name }) {
				errs.Addf(an, "rule %q: two actions are named %q", r.Name, a.Name)
			}
			r.Actions = append(r.Actions, a)
		}
	}
	r.Index = len(l.rs.Rules)
	l.rs.Rules = append(l.rs.Rules, r)
}

// throttleSpec is a rule's `throttle:`.
type throttleSpec struct {
	Key *yaml.Node    `yaml:"key"`
	Per time.Duration `yaml:"per"`
}

// loadThrottle checks a rule's throttle:.
func (l *loader) loadThrottle(r *Rule, spec *ruleSpec, errs *diag.List) {
	t := spec.Throttle
	if t == nil {
		return
	}
	if t.Key == nil || t.Key.Kind != yaml.ScalarNode || t.Per <= 0 {
		errs.Addf(spec.node, "rule %q: throttle: needs key: (a template, e.g. \"{{ chat_id }}\") and per: (a duration)", r.Name)
		return
	}
	key, err := compileText(t.Key)
	if err != nil {
		errs.AddErr(t.Key, err)
		return
	}
	r.Throttle = &Throttle{Key: key, Per: t.Per}
	if spec.Schedule != nil {
		errs.Addf(spec.node, "rule %q: a scheduled rule runs once per time; throttle: does not apply", r.Name)
	}
}

// groupSpec is a rule's `group:`.
type groupSpec struct {
	Key    *yaml.Node    `yaml:"key"`
	Window time.Duration `yaml:"window"`
}

// loadGroup checks a rule's group:.
func (l *loader) loadGroup(r *Rule, spec *ruleSpec, errs *diag.List) {
	g := spec.Group
	if g == nil {
		return
	}
	if g.Key == nil || g.Key.Kind != yaml.ScalarNode || g.Window <= 0 {
		errs.Addf(spec.node, "rule %q: group: needs key: (a template, e.g. \"{{ chat_id }}\") and window: (a duration)", r.Name)
		return
	}
	key, err := compileText(g.Key)
	if err != nil {
		errs.AddErr(g.Key, err)
		return
	}
	r.Group = &Group{Key: key, Window: g.Window}
	if spec.Schedule != nil || spec.After > 0 || spec.Throttle != nil {
		errs.Addf(spec.node, "rule %q: group: does not combine with schedule:, after: or throttle:", r.Name)
	}
}

// loadSchedule checks a rule's schedule:, timezone: and missed:.
func (l *loader) loadSchedule(r *Rule, spec *ruleSpec, zone string, errs *diag.List) {
	if spec.Schedule == nil {
		if spec.Timezone != "" || spec.Missed != "" || spec.ForEach != "" {
			errs.Addf(spec.node, "rule %q: timezone:, missed: and for_each: go with schedule:", r.Name)
		}
		return
	}
	switch spec.ForEach {
	case "":
	case "chat":
		r.ForEachChat = true
	default:
		errs.Addf(spec.node, "rule %q: for_each: expected chat, got %q", r.Name, spec.ForEach)
	}
	if spec.Timezone != "" {
		if e := checkZone(spec.Timezone, keyValue(spec.node, "timezone")); e != nil {
			errs.Add(e)
			return
		}
		zone = spec.Timezone
	}
	s, err := parseSchedule(spec.Schedule.Value, zone)
	if err != nil {
		var se *specError
		if errors.As(err, &se) && se.at >= 0 {
			line, col := position(spec.Schedule, se.at)
			errs.Add(&diag.Error{Line: line, Column: col, Msg: se.msg})
		} else {
			errs.Addf(spec.Schedule, "%v", err)
		}
		return
	}
	r.Schedule = s
	switch spec.Missed {
	case "", MissedRun:
		r.Missed = MissedRun
	case MissedSkip:
		r.Missed = MissedSkip
	default:
		errs.Addf(spec.node, "rule %q: missed: expected %s or %s, got %q", r.Name, MissedRun, MissedSkip, spec.Missed)
	}
	if spec.After > 0 {
		errs.Addf(spec.node, "rule %q: a scheduled rule cannot also have after:", r.Name)
	}
}

// cutByComment reports a plain (unquoted) one-line condition followed by a
// comment on its line: YAML ends a plain scalar at " #", so
// `when: type == "pdf" # && direction == "received"` would silently be
// `type == "pdf"`. Conservatively, every such condition is an error; the
// hint says how to keep both the condition and the comment.
func (l *loader) cutByComment(n *yaml.Node) *diag.Error {
	if n.Kind != yaml.ScalarNode || n.LineComment == "" || strings.Contains(n.Value, "\n") ||
		n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil
	}
	if n.Line < 1 || n.Line > len(l.lines) {
		return nil
	}
	line := l.lines[n.Line-1]
	start := n.Column - 1
	if start < 0 || start+len(n.Value) > len(line) || line[start:start+len(n.Value)] != n.Value {
		return nil // not where expected (a flow mapping, a multi-byte character): stay silent
	}
	hash := strings.IndexByte(line[start+len(n.Value):], '#')
	if hash < 0 || strings.TrimSpace(line[start+len(n.Value):][:hash]) != "" {
		return nil // the comment is on another line, or after more YAML (a flow mapping's "}")
	}
	at := &yaml.Node{Line: n.Line, Column: n.Column + utf8.RuneCountInString(n.Value) + utf8.RuneCountInString(line[start+len(n.Value):][:hash])}
	if _, err := compileExpr(n.Value, true); err != nil {
		full := strings.TrimRight(strings.TrimRight(line[start:], "\r"), " \t")
		return diag.At(at, "\" #\" starts a YAML comment, which cut the condition to `%s`; quote the whole condition: when: %s",
			n.Value, quoteYAML(full))
	}
	return diag.At(at, "\" #\" starts a YAML comment, so the condition is only `%s` and the rest of the line is ignored; "+
		"quote the condition if the rest belongs to it, or put the comment on a line of its own", n.Value)
}

// quoteYAML quotes s as a YAML scalar: single quotes unless s holds one.
func quoteYAML(s string) string {
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// checkZone reports a timezone: that names no time zone, at n, with the
// likely name meant.
func checkZone(zone string, n *yaml.Node) *diag.Error {
	if _, err := time.LoadLocation(zone); err == nil {
		return nil
	}
	if s := diag.Suggest(zone, zoneNames); s != "" {
		return diag.At(n, "timezone: unknown time zone %q (did you mean %s?)", zone, s)
	}
	return diag.At(n, "timezone: unknown time zone %q (an IANA name such as Europe/London or America/New_York)", zone)
}

// keyValue returns the value of key in mapping n, or n itself if n is not
// a mapping or has no such key (so that an error is still positioned).
func keyValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// compileWhen compiles the rule's condition, which must be boolean.
func (r *Rule) compileWhen(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return diag.At(n, "when: expected an expression, got %s", yamlx.Describe(n))
	}
	src := n.Value
	if n.ShortTag() == "!!bool" {
		src = strings.ToLower(src)
	}
	r.When = src
	prog, err := compileExpr(src, true)
	if err != nil {
		e := exprError(n, 0, src, err)
		if strings.HasPrefix(e.Msg, "expected bool") {
			e.Msg = "condition must be true or false, not " + strings.TrimPrefix(e.Msg, "expected bool, but got ")
		}
		return e
	}
	r.prog = prog
	r.node = n
	r.pre, r.pinned = compilePrecheck(src)
	return nil
}

func (l *loader) loadAction(n *yaml.Node, errs *diag.List) (Action, bool) {
	var name string
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[0].Value == "name" {
		errs.Addf(n, "action %q has no kind: write its kind beside its name, such as `slack: {...}` (%s)", n.Content[1].Value, l.kindList())
		return Action{}, false
	}
	if n.Kind == yaml.MappingNode && len(n.Content) > 2 { // more than the kind: maybe name:
		var nameNode *yaml.Node
		if nameNode, n = splitKey(n, "name"); nameNode != nil {
			if nameNode.Kind != yaml.ScalarNode || strings.TrimSpace(nameNode.Value) == "" || nameNode.ShortTag() == "!!int" {
				errs.Addf(nameNode, "action name: expected a name such as to-crm (not a number: actions are also numbered), got %s", yamlx.Describe(nameNode))
				return Action{}, false
			}
			name = nameNode.Value
		}
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		errs.Addf(n, "expected an action such as `- slack: {...}`, a mapping with one key naming its kind (%s) and optionally name:", l.kindList())
		return Action{}, false
	}
	k, body := n.Content[0], n.Content[1]
	kind, ok := l.opts.Kinds[k.Value]
	if !ok {
		errs.Add(l.unknownKind(k, k.Value))
		return Action{}, false
	}
	if body.Kind == yaml.ScalarNode && body.ShortTag() == "!!null" {
		body = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: body.Line, Column: body.Column}
	}
	if body.Kind != yaml.MappingNode {
		errs.Addf(body, "%s: expected a mapping of fields, got %s", k.Value, yamlx.Describe(body))
		return Action{}, false
	}
	a := Action{Kind: k.Value, Line: k.Line, Name: name}
	b := &actions.Block{Node: body, Compiler: compiler{}}
	if dn := b.Field("destination"); dn != nil {
		d, ok := l.rs.Destinations[dn.Value]
		switch {
		case !ok && l.badDests[dn.Value]:
			return Action{}, false
		case !ok:
			names := make([]string, 0, len(l.rs.Destinations))
			for name := range l.rs.Destinations {
				names = append(names, name)
			}
			if s := diag.Suggest(dn.Value, names); s != "" {
				errs.Addf(dn, "unknown destination %q (did you mean %q?)", dn.Value, s)
			} else {
				errs.Addf(dn, "unknown destination %q", dn.Value)
			}
			return Action{}, false
		case d.Kind != k.Value:
			errs.Addf(dn, "destination %q is of kind %s, not %s", dn.Value, d.Kind, k.Value)
			return Action{}, false
		}
		b.DestName, b.Dest = d.Name, d.Config
		a.Destination = d.Name
	}
	r, err := kind.Compile(b)
	if err != nil {
		errs.AddErr(body, err)
		return Action{}, false
	}
	a.renderer = r
	return a, true
}

// compiler hands the engine's template compiler to action kinds.
type compiler struct{}

func (compiler) CompileText(n *yaml.Node) (actions.TextTemplate, error) {
	t, err := compileText(n)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (compiler) CompileValue(n *yaml.Node) (actions.ValueTemplate, error) {
	return compileValue(n)
}

// SpecTypes returns the Go types a rules file is decoded into: the file, a
// rule and a test case. The JSON Schema generator reads their yaml tags.
func SpecTypes() (file, rule, test any) { return fileSpec{}, ruleSpec{}, testSpec{} }
