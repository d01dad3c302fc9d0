package main

import (
	"context"
	"fmt"

	"github.com/switchboard-dev/switchboard/internal/store"
)

func runBackup(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "backup", "FILE",
		"Write a consistent copy of a server's database to FILE (a new file), while the server\n"+
			"runs: the copy holds every event acknowledged before the backup began. It reads the\n"+
			"data directory only (run it as a user who may read it). Restore: stop the service,\n"+
			"replace DATA/switchboard.db with the copy (remove any switchboard.db-wal and -shm\n"+
			"beside it), start the service.")
	data := fs.String("data", "./data", "the server's data directory [SWITCHBOARD_DATA]")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	if err := flagsFromEnv(fs, "SWITCHBOARD_"); err != nil {
		fmt.Fprintf(s.err, "switchboard backup: %v\n", err)
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(s.err, "switchboard backup: give one FILE to write the copy to")
		return 2
	}
	info, err := store.Backup(ctx, *data, pos[0])
	if err != nil {
		fmt.Fprintf(s.err, "switchboard backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(s.out, "backed up %d events (%d bytes) to %s\n", info.Events, info.Bytes, info.Path)
	return 0
}
