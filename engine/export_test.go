package engine

// ResetProgramCache empties the compiled-program cache, so that a
// benchmark can measure a load that compiles everything.
func ResetProgramCache() {
	programs.Clear()
	programs.n.Store(0)
}

// ScrubError is scrubError, for tests.
var ScrubError = scrubError
