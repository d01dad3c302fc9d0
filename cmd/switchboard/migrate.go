package main

import (
	"context"
	"fmt"

	"github.com/switchboard-dev/switchboard/internal/store"
	"github.com/switchboard-dev/switchboard/internal/store/pgstore"
)

func runMigrate(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "migrate", "",
		"Copy a SQLite data directory into a new PostgreSQL database, so that one or more\n"+
			"instances can serve from it (serve --store): the events (those already evaluated\n"+
			"stay evaluated), the deliveries with their attempts, the conversation state, the\n"+
			"delayed checks and schedules, the dedupe keys and the quarantine. Stop the service\n"+
			"first (the data directory is locked while it runs). The database must be empty: the\n"+
			"schema is created, then everything is copied in one transaction.")
	data := fs.String("data", "./data", "the SQLite data directory to copy [SWITCHBOARD_DATA]")
	url := fs.String("store", "", "the PostgreSQL database to copy into (postgres://user@host:5432/db) [SWITCHBOARD_STORE]")
	if _, err := parseFlags(fs, args); err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard migrate: %v\n", err)
		return 2
	}
	if *url == "" {
		fmt.Fprintln(s.err, "switchboard migrate: --store is required: the PostgreSQL database to copy into")
		return 2
	}
	src, err := store.Open(ctx, *data, store.Options{})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard migrate: %v (is the service still running? stop it first)\n", err)
		return 1
	}
	defer src.Close()
	dst, err := pgstore.Open(ctx, *url, pgstore.Options{Instance: "migrate"})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard migrate: %v\n", err)
		return 1
	}
	defer dst.Close()
	n, err := dst.Import(ctx, src)
	if err != nil {
		fmt.Fprintf(s.err, "switchboard migrate: %v\n", err)
		return 1
	}
	fmt.Fprintf(s.out, "copied %d events, %d deliveries (%d attempts), %d chats, %d delayed checks, %d dedupe keys, %d quarantined bodies\n",
		n["events"], n["jobs"], n["attempts"], n["chats"], n["timers"], n["dedupe"], n["quarantine"])
	fmt.Fprintln(s.out, "start the instances with --store and the same address; keep the data directory as a backup until they run")
	return 0
}
