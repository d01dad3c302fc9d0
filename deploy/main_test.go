package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// devBinary is a plain `go build` of switchboard shared by the tests that
// need one to run (not the image's build: see buildImageBinary).
var devBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// switchboard returns the path of a switchboard binary built from this tree.
func switchboard(t *testing.T) string {
	t.Helper()
	devBinary.once.Do(func() {
		if devBinary.dir, devBinary.err = os.MkdirTemp("", "switchboard-deploy-"); devBinary.err != nil {
			return
		}
		devBinary.path = filepath.Join(devBinary.dir, "switchboard")
		devBinary.out, devBinary.err = exec.Command("go", "build", "-o", devBinary.path, "../cmd/switchboard").CombinedOutput()
	})
	if devBinary.err != nil {
		t.Fatalf("building switchboard: %v\n%s", devBinary.err, devBinary.out)
	}
	return devBinary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if devBinary.dir != "" {
		os.RemoveAll(devBinary.dir)
	}
	os.Exit(code)
}
