//go:build race

package delivery_test

// raceEnabled: the race detector slows the store tenfold; heavy tests scale down.
const raceEnabled = true
