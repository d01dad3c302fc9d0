package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// repo is the repository root, relative to this package.
const repo = ".."

// dockerfile returns the Dockerfile's instructions, continuation lines
// joined, comments dropped.
func dockerfile(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "Dockerfile"))
	require.NoError(t, err)
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			cur.WriteString(strings.TrimSuffix(line, `\`) + " ")
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	return out
}

// instruction returns the arguments of the Dockerfile instructions named
// kind whose arguments contain has.
func instruction(t *testing.T, kind, has string) []string {
	t.Helper()
	var out []string
	for _, in := range dockerfile(t) {
		if args, ok := strings.CutPrefix(in, kind+" "); ok && strings.Contains(args, has) {
			out = append(out, args)
		}
	}
	return out
}

// makefileLDFlags is the Makefile's LDFLAGS with $(VERSION) as ${VERSION}.
func makefileLDFlags(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.+)$`).FindSubmatch(data)
	require.NotNil(t, m, "Makefile: no LDFLAGS line")
	return strings.ReplaceAll(strings.TrimSpace(string(m[1])), "$(VERSION)", "${VERSION}")
}

// TestDockerfile checks the image's instructions against what the rest of
// the repository expects: the Makefile's build flags, the distroless base,
// the volume, the ports, the healthcheck and the entrypoint.
func TestDockerfile(t *testing.T) {
	builds := instruction(t, "RUN", "go build")
	require.Len(t, builds, 1, "the Dockerfile builds the binary once")
	for _, want := range []string{"CGO_ENABLED=0 ", "-trimpath", `-ldflags "` + makefileLDFlags(t) + `"`, "./cmd/switchboard"} {
		require.Contains(t, builds[0], want, "the Dockerfile's build differs from the Makefile's")
	}
	for _, tc := range []struct{ kind, has string }{
		{"FROM", "gcr.io/distroless/static-debian12:nonroot"},
		{"VOLUME", "/data"},
		{"EXPOSE", "8080 9090"},
		{"ENV", "SWITCHBOARD_ADDR=:8080 SWITCHBOARD_ADMIN_ADDR=:9090"},
		{"HEALTHCHECK", `CMD ["/usr/local/bin/switchboard", "healthcheck", "--data", "/data"]`},
		{"ENTRYPOINT", `["/usr/local/bin/switchboard", "serve", "--data", "/data", "--rules", "/etc/switchboard/rules.yaml"]`},
		{"COPY", "--chown=65532:65532 /out/data /data"},
	} {
		require.Len(t, instruction(t, tc.kind, tc.has), 1, "Dockerfile: no %s %s", tc.kind, tc.has)
	}
}

// buildImageBinary runs the Dockerfile's build command (its RUN line as
// written, through sh) here, writing the binary to a temporary directory.
func buildImageBinary(t *testing.T) string {
	t.Helper()
	builds := instruction(t, "RUN", "go build")
	require.Len(t, builds, 1)
	dir, err := os.MkdirTemp("", "switchboard-image-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "switchboard")
	line := strings.ReplaceAll(builds[0], "/out/switchboard", bin)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-image-test")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building as the Dockerfile does (%s):\n%s", line, out)
	return bin
}

// TestImageBinary builds the binary exactly as the Dockerfile's build stage
// does, proves it static (ldd, and no ELF interpreter), then starts it as
// the image would: not as root when the test can help it, no environment
// at all (no HOME, TMPDIR or PATH), a working directory it cannot write,
// the rules in a directory it cannot write, and only its data directory
// writable. It must become ready, pass its own healthcheck and stop cleanly
// on SIGTERM.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary; skipped with -short")
	}
	bin := buildImageBinary(t)

	f, err := elf.Open(bin)
	require.NoError(t, err)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader: not static")
	}
	require.NoError(t, f.Close())
	if ldd, err := exec.LookPath("ldd"); err == nil {
		out, _ := exec.Command(ldd, bin).CombinedOutput() // ldd exits 1 on a static binary
		require.Contains(t, string(out), "not a dynamic executable")
	} else {
		t.Log("ldd not installed: checked the ELF program headers only")
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err)
	require.Equal(t, "switchboard v0.0.0-image-test\n", string(out), "-X main.version did not take")

	root, err := os.MkdirTemp("", "switchboard-run-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(root) })
	data, rulesDir, cwd := filepath.Join(root, "data"), filepath.Join(root, "rules"), filepath.Join(root, "cwd")
	for _, d := range []string{data, rulesDir, cwd} {
		require.NoError(t, os.Mkdir(d, 0o755))
	}
	rules := filepath.Join(rulesDir, "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte("rules:\n  - name: a\n    when: \"true\"\n    actions: [{log: {message: x}}]\n"), 0o644))
	require.NoError(t, os.Chmod(root, 0o755))
	require.NoError(t, os.Chmod(cwd, 0o555))
	require.NoError(t, os.Chmod(rulesDir, 0o555))

	cmd := exec.Command(bin, "serve", "--data", data, "--rules", rules, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	cmd.Dir = cwd
	cmd.Env = []string{} // nothing: no HOME, TMPDIR, PATH
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if os.Geteuid() == 0 {
		// As root every directory is writable: run as the image's user,
		// who owns only the data directory.
		require.NoError(t, os.Chown(data, 65532, 65532))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	}
	require.NoError(t, cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The server writes DATA/public-url once it listens; the binary's own
	// healthcheck (the image's HEALTHCHECK) then finds it there.
	deadline := time.Now().Add(60 * time.Second) // generous: the machines are shared
	for {
		hc := exec.Command(bin, "healthcheck", "--data", data)
		hc.Env = []string{}
		out, err := hc.CombinedOutput()
		if err == nil {
			require.Contains(t, string(out), "ready: ")
			break
		}
		select {
		case <-exited:
			t.Fatalf("serve exited (%v) before it was ready:\n%s", waitErr, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("never ready: %s\nlogs:\n%s", out, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub, err := os.ReadFile(filepath.Join(data, "public-url"))
	require.NoError(t, err)
	resp, err := http.Get(strings.TrimSpace(string(pub)) + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	entries, err := os.ReadDir(cwd)
	require.NoError(t, err)
	require.Empty(t, entries, "serve wrote into its working directory")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	<-exited
	var exit *exec.ExitError
	if errors.As(waitErr, &exit) {
		t.Fatalf("serve exited with %v on SIGTERM:\n%s", exit, logs.String())
	}
	require.NoError(t, waitErr)
	require.NotContains(t, logs.String(), "level=ERROR", logs.String())
}

// lockedBuffer is a bytes.Buffer a child process writes into while the test
// may read it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
