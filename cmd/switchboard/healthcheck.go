package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/internal/app"
)

func runHealthcheck(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "healthcheck", "",
		"Ask a local server whether it is ready (GET /readyz): exit status 0 if it is, 1 if not or\n"+
			"if it does not answer, with a one-line reason. For a container's HEALTHCHECK; the server\n"+
			"is found through the URL it recorded in its data directory, or --url.")
	rawURL := fs.String("url", "", "the server's base URL (e.g. http://127.0.0.1:8080); default: the one it recorded in DATA/public-url [SWITCHBOARD_URL]")
	data := fs.String("data", "./data", "the server's data directory [SWITCHBOARD_DATA]")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard healthcheck: %v\n", err)
		return 2
	}
	base := *rawURL
	if base == "" {
		u, err := app.ReadPublicURL(*data)
		if err != nil {
			if errors.Is(err, app.ErrNoURL) {
				err = fmt.Errorf("%w: has a server started with --data %s? (or pass --url)", err, *data)
			}
			fmt.Fprintf(s.out, "not ready: %v\n", err)
			return 1
		}
		base = u
	}
	ready, reason := checkReady(ctx, strings.TrimRight(base, "/")+"/readyz", *timeout)
	if !ready {
		fmt.Fprintf(s.out, "not ready: %s\n", reason)
		return 1
	}
	fmt.Fprintf(s.out, "ready: %s\n", reason)
	return 0
}

// checkReady GETs a /readyz URL and says whether it answered 200, and why
// not (the server's own status word when it gives one).
func checkReady(ctx context.Context, u string, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, fmt.Sprintf("bad URL: %v", errorWithoutURL(err))
	}
	host := req.URL.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Sprintf("no answer from %s: %v", host, errorWithoutURL(err))
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_ = json.Unmarshal(data, &body)
	word := oneLine(body.Status, 80)
	if word == "" {
		word = resp.Status
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("%s answered %s (%s)", host, resp.Status, word)
	}
	return true, fmt.Sprintf("%s is %s", host, word)
}
