package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestGoreleaserConfig: the release builds are the Makefile's build for
// linux and darwin on amd64 and arm64, with checksums. (`make lint` runs
// `goreleaser check` on the file itself.)
func TestGoreleaserConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo, ".goreleaser.yaml"))
	require.NoError(t, err)
	var cfg struct {
		Version int
		Builds  []struct {
			Main    string
			Env     []string
			Goos    []string
			Goarch  []string
			Flags   []string
			Ldflags []string
		}
		Checksum struct {
			NameTemplate string `yaml:"name_template"`
		}
	}
	require.NoError(t, yaml.Unmarshal(data, &cfg))
	require.Equal(t, 2, cfg.Version)
	require.Len(t, cfg.Builds, 1)
	b := cfg.Builds[0]
	require.Equal(t, "./cmd/switchboard", b.Main)
	require.Contains(t, b.Env, "CGO_ENABLED=0")
	require.ElementsMatch(t, []string{"linux", "darwin"}, b.Goos)
	require.ElementsMatch(t, []string{"amd64", "arm64"}, b.Goarch)
	require.Contains(t, b.Flags, "-trimpath")
	want := strings.ReplaceAll(makefileLDFlags(t), "${VERSION}", "{{.Version}}")
	require.Equal(t, []string{want}, b.Ldflags, "the release's ldflags differ from the Makefile's")
	require.NotEmpty(t, cfg.Checksum.NameTemplate, "checksums")
}
