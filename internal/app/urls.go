package app

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// The files in the data directory that tell the CLI where a running server
// listens: the public listener (hooks and probes, for `switchboard
// healthcheck`) and the one that serves the admin API (for status,
// deliveries, replay, ...). Both are rewritten at every start.
const (
	publicURLFile = "public-url"
	adminURLFile  = "admin-url"
)

// ErrNoURL is returned by ReadPublicURL and ReadAdminURL when no server has
// recorded its URL in the data directory.
var ErrNoURL = errors.New("no server has recorded its URL there")

// ReadPublicURL returns the base URL of the public listener of the server
// that last started on dataDir (e.g. http://127.0.0.1:8080).
func ReadPublicURL(dataDir string) (string, error) { return readURL(dataDir, publicURLFile) }

// ReadAdminURL returns the base URL that serves the admin API of the server
// that last started on dataDir: its --admin-addr, or its --addr without one.
func ReadAdminURL(dataDir string) (string, error) { return readURL(dataDir, adminURLFile) }

func readURL(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, ErrNoURL)
	}
	if err != nil {
		return "", fmt.Errorf("reading the server's URL: %w", err)
	}
	u := strings.TrimSpace(string(data))
	if u == "" {
		return "", fmt.Errorf("reading %s: empty: %w", path, ErrNoURL)
	}
	return u, nil
}

// writeURLs records both URLs, each replaced atomically (a CLI never reads
// half a file).
func writeURLs(dataDir, public, admin string) error {
	for name, u := range map[string]string{publicURLFile: public, adminURLFile: admin} {
		path := filepath.Join(dataDir, name)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(u+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// dialable is a bound address as a client on this machine reaches it: an
// unspecified host (0.0.0.0, or :: which Go listens on for ":PORT", both
// address families) becomes 127.0.0.1.
func dialable(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
