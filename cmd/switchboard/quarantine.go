package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"
)

func runQuarantine(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "quarantine", "[list | show ID | replay ID]",
		"Bodies a running server refused as not Cooby payloads (answered 400) are kept in a\n"+
			"bounded quarantine, since Cooby never sends them again. list shows them with the reason,\n"+
			"show prints one as received, and replay ingests it again once the cause is fixed.")
	var c client
	c.flags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard quarantine: %v\n", err)
		return 2
	}
	if len(pos) == 0 {
		pos = []string{"list"}
	}
	fail := func(err error) int {
		fmt.Fprintf(s.err, "switchboard quarantine: %v\n", err)
		return 1
	}
	switch {
	case pos[0] == "list" && len(pos) == 1:
		var qs []struct {
			ID         int64
			ReceivedAt time.Time
			Reason     string
			Size       int
		}
		if err := c.do(ctx, http.MethodGet, "/api/quarantine", nil, &qs); err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tRECEIVED\tBYTES\tREASON")
		for _, q := range qs {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", q.ID, q.ReceivedAt.Local().Format(time.DateTime), q.Size, oneLine(q.Reason, 100))
		}
		_ = tw.Flush()
		return 0
	case pos[0] == "show" && len(pos) == 2:
		if _, err := strconv.ParseInt(pos[1], 10, 64); err != nil {
			return fail(fmt.Errorf("%q is not an id", pos[1]))
		}
		body, err := c.raw(ctx, "/api/quarantine/"+pos[1])
		if err != nil {
			return fail(err)
		}
		_, _ = s.out.Write(body)
		return 0
	case pos[0] == "replay" && len(pos) == 2:
		if _, err := strconv.ParseInt(pos[1], 10, 64); err != nil {
			return fail(fmt.Errorf("%q is not an id", pos[1]))
		}
		var out struct {
			ID        int64
			Duplicate bool
		}
		if err := c.do(ctx, http.MethodPost, "/api/quarantine/"+pos[1]+"/replay", nil, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(s.out, "ingested as event %d (duplicate: %t)\n", out.ID, out.Duplicate)
		return 0
	}
	fs.Usage()
	return 2
}

// raw GETs an admin path and returns the body as it comes.
func (c *client) raw(ctx context.Context, path string) ([]byte, error) {
	var body []byte
	err := c.send(ctx, http.MethodGet, path, nil, nil, &body, true)
	return body, err
}
