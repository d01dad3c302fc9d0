package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/switchboard-dev/switchboard/engine"
	"github.com/switchboard-dev/switchboard/internal/app"
)

// defaultServer is where the client commands look for a server that has
// recorded no URL in its data directory.
const defaultServer = "http://127.0.0.1:8080"

// client talks to a running server's admin API.
type client struct {
	server string
	token  string
	data   string
}

func (c *client) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", "", "the running server's admin URL; default: the one it recorded in DATA/admin-url, else "+defaultServer+" [SWITCHBOARD_SERVER]")
	fs.StringVar(&c.token, "admin-token", "", "admin token; default: read from DATA/admin-token [SWITCHBOARD_ADMIN_TOKEN]")
	fs.StringVar(&c.data, "data", "./data", "the server's data directory, to find its admin token [SWITCHBOARD_DATA]")
}

func (c *client) do(ctx context.Context, method, path string, query url.Values, out any) error {
	return c.send(ctx, method, path, query, nil, out, true)
}

// errorWithoutURL drops the URL Go's HTTP client puts in its errors.
func errorWithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func runDeliveries(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "deliveries", "",
		"List recent deliveries of a running server, newest first, with their state (pending,\n"+
			"retry, done, dead), attempts and last error.")
	var c client
	c.flags(fs)
	state := fs.String("state", "", "only this state: pending, retry, done or dead")
	rule := fs.String("rule", "", "only this rule")
	dest := fs.String("destination", "", "only this destination")
	limit := fs.Int("limit", 50, "at most this many")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard deliveries: %v\n", err)
		return 2
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	for k, v := range map[string]string{"state": *state, "rule": *rule, "destination": *dest} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var ds []app.DeliveryView
	if err := c.do(ctx, http.MethodGet, "/api/deliveries", q, &ds); err != nil {
		fmt.Fprintf(s.err, "switchboard deliveries: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ds)
		return 0
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT\tRULE\tACTION\tDESTINATION\tSTATE\tATTEMPTS\tUPDATED\tLAST ERROR")
	for _, d := range ds {
		dest := d.Destination
		if dest == "" {
			dest = "-"
		}
		action := engine.ActionLabel(d.Action-1, d.ActionName) + ": " + d.Kind
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventID, d.Rule, action, dest,
			d.State, d.Attempts, d.UpdatedAt.Local().Format(time.DateTime), oneLine(d.LastError, 80))
	}
	_ = tw.Flush()
	return 0
}

func runReplay(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "replay", "[DELIVERY-ID...]",
		"Queue deliveries again on a running server: the given ids (dead or done), or with --dead\n"+
			"every dead letter that matches the filters. The stored request is sent as it was rendered.")
	var c client
	c.flags(fs)
	dead := fs.Bool("dead", false, "replay every dead letter matching --rule/--destination")
	rule := fs.String("rule", "", "with --dead: only this rule")
	dest := fs.String("destination", "", "with --dead: only this destination")
	ids, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard replay: %v\n", err)
		return 2
	}
	if *dead == (len(ids) > 0) {
		fmt.Fprintln(s.err, "switchboard replay: give delivery ids, or --dead (not both)")
		return 2
	}
	total := 0
	if *dead {
		q := url.Values{}
		if *rule != "" {
			q.Set("rule", *rule)
		}
		if *dest != "" {
			q.Set("destination", *dest)
		}
		var out struct{ Requeued int }
		if err := c.do(ctx, http.MethodPost, "/api/replay", q, &out); err != nil {
			fmt.Fprintf(s.err, "switchboard replay: %v\n", err)
			return 1
		}
		total = out.Requeued
	}
	for _, id := range ids {
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			fmt.Fprintf(s.err, "switchboard replay: %q is not a delivery id\n", id)
			return 2
		}
		var out struct{ Requeued int }
		if err := c.do(ctx, http.MethodPost, "/api/deliveries/"+id+"/replay", nil, &out); err != nil {
			fmt.Fprintf(s.err, "switchboard replay: delivery %s: %v\n", id, err)
			return 1
		}
		total += out.Requeued
	}
	fmt.Fprintf(s.out, "requeued %d deliveries\n", total)
	return 0
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// base is the server's admin URL: --server, else the URL the server
// recorded in its data directory (its --admin-addr, or --addr), else
// defaultServer.
func (c *client) base() string {
	if c.server == "" {
		c.server = defaultServer
		if u, err := app.ReadAdminURL(c.data); err == nil {
			c.server = u
		}
	}
	return c.server
}
