package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/engine"
)

// TestNamedLists: lists written inline or in a file, tested with `in`,
// phone numbers matched as phone() writes them; a list file is part of
// the rules version; an unknown list name is a positioned error.
func TestNamedLists(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blocked.txt"), []byte("# spammers\n+1 555 010 9999\n\nspam@example.com\n"), 0o644))
	src := `lists:
  vip: ["+44 7700 900999", "Acme Ltd"]
  blocked: {file: blocked.txt}
rules:
  - name: vip
    when: phone(sender.phone) in lists.vip && !(phone(sender.phone) in lists.blocked)
    actions: [{log: {message: vip}}]
  - name: blocked
    when: phone(sender.phone) in lists.blocked || user_email in lists.blocked || chat_title in lists.vip
    actions: [{log: {message: blocked}}]
`
	path := filepath.Join(dir, "rules.yaml")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	rs, err := engine.LoadFiles(opts(), path)
	require.NoError(t, err)
	match := func(payload string) []string {
		ev, err := engine.Decode([]byte(payload))
		require.NoError(t, err)
		p, err := rs.Plan(ev, engine.PlanOptions{})
		require.NoError(t, err)
		var out []string
		for _, m := range p.Matches {
			out = append(out, m.Rule.Name)
		}
		return out
	}
	require.Equal(t, []string{"vip"}, match(`{"sender":{"phone":"447700900999"}}`))
	require.Equal(t, []string{"blocked"}, match(`{"sender":{"phone":"15550109999"}}`))
	require.Equal(t, []string{"blocked"}, match(`{"user_email":"spam@example.com"}`))
	require.Equal(t, []string{"blocked"}, match(`{"chat_title":"Acme Ltd"}`))
	require.Empty(t, match(`{"sender":{"phone":"15550000000"}}`))

	v := rs.Version
	require.NoError(t, os.WriteFile(filepath.Join(dir, "blocked.txt"), []byte("+1 555 010 8888\n"), 0o644))
	rs, err = engine.LoadFiles(opts(), path)
	require.NoError(t, err)
	require.NotEqual(t, v, rs.Version, "a list file's content is part of the version")

	require.Equal(t, `rules.yaml:4:36: no list is named "vpi" (did you mean vip?)`, loadErr(t, `lists:
  vip: ["1"]
rules:
  - {name: a, when: 'type in lists.vpi', actions: [{log: {message: x}}]}
`))
	require.Equal(t, `b.yaml:2:3: list "vip" already defined at a.yaml:2`, loadErrDup(t))
}

func loadErrDup(t *testing.T) string {
	t.Helper()
	_, err := engine.Load(opts(),
		engine.Source{Name: "a.yaml", Data: []byte("lists:\n  vip: [\"1\"]\n")},
		engine.Source{Name: "b.yaml", Data: []byte("lists:\n  vip: [\"2\"]\n")})
	require.Error(t, err)
	return err.Error()
}
