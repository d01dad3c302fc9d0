package actions

import "testing"

func TestMaskWord(t *testing.T) {
	for _, tc := range []struct{ s, w, want string }{
		{`got "x"`, "x", `got "***"`},
		{"text", "x", "text"},
		{"x", "x", "***"},
		{"25 of 25x", "25", "*** of 25x"},
		{"é25é 25", "25", "é25é ***"},
		{"nothing", "", "nothing"},
	} {
		if got := MaskWord(tc.s, tc.w); got != tc.want {
			t.Errorf("MaskWord(%q, %q) = %q, want %q", tc.s, tc.w, got, tc.want)
		}
	}
}
