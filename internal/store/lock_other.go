//go:build !unix

package store

import "os"

// lockDir is a no-op where flock is unavailable: there, running two
// processes on one data directory is the operator's to avoid.
func lockDir(dir string) (*os.File, error) { return nil, nil }
