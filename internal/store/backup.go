package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BackupInfo describes a copy Backup wrote.
type BackupInfo struct {
	// Path is the copy's file.
	Path string
	// Bytes is the copy's size.
	Bytes int64
	// Events is the number of events in the copy.
	Events int64
}

// Backup writes a consistent copy of the store in dir to the new file
// dest with SQLite's VACUUM INTO, on a connection of its own that only
// reads: it takes neither the directory lock nor a write lock, so it runs
// beside a live service, whose writer goes on meanwhile (WAL). The copy
// holds exactly the transactions committed before it began (so every event
// acknowledged before the call); it is checked (quick_check) and fsynced
// before Backup returns. dest must not exist; on failure nothing is left at
// dest. Restore by stopping the service and putting the copy in place of
// dir/switchboard.db (with no -wal or -shm file beside it).
func Backup(ctx context.Context, dir, dest string) (BackupInfo, error) {
	src := filepath.Join(dir, FileName)
	if _, err := os.Stat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return BackupInfo{}, fmt.Errorf("backup: no store in %s (no %s)", dir, FileName)
		}
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: resolve %q: %w", dest, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return BackupInfo{}, fmt.Errorf("backup: %s already exists; give a new file name", dest)
	}
	// Not query_only: SQLite counts VACUUM INTO's writes to the copy
	// against it. The statement only reads the source.
	db, err := sql.Open("sqlite", dsn(src, "busy_timeout(10000)"))
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, abs); err != nil {
		_ = os.Remove(abs)
		return BackupInfo{}, fmt.Errorf("backup of %s to %s: %w", src, dest, err)
	}
	info, err := checkCopy(ctx, abs)
	if err != nil {
		_ = os.Remove(abs)
		return BackupInfo{}, fmt.Errorf("backup to %s: %w", dest, err)
	}
	return info, nil
}

// checkCopy runs quick_check on a fresh copy, counts its events and makes
// it durable (the file, then its directory entry).
func checkCopy(ctx context.Context, path string) (BackupInfo, error) {
	info := BackupInfo{Path: path}
	db, err := sql.Open("sqlite", dsn(path, "query_only(1)"))
	if err != nil {
		return info, fmt.Errorf("open the copy: %w", err)
	}
	var check string
	err = db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check)
	if err == nil && check != "ok" {
		err = fmt.Errorf("the copy is damaged: %s", check)
	}
	if err == nil {
		err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&info.Events)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("checking the copy: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	err = f.Sync()
	if st, serr := f.Stat(); serr == nil {
		info.Bytes = st.Size()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("syncing the copy: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return info, fmt.Errorf("syncing the copy's directory: %w", err)
	}
	return info, nil
}
