// Package switchboard holds what the binary carries of the repository
// itself: the example rules file and the sample Cooby payloads its tests
// use, which `switchboard init` writes out as a starting point.
package switchboard

import "embed"

// Starter is rules.example.yaml and testdata/cooby/*.json, as in the
// repository; the example's tests name the payloads by those paths.
//
//go:embed rules.example.yaml testdata/cooby/*.json
var Starter embed.FS
