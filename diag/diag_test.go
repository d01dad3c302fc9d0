package diag

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  Error
		want string
	}{
		{Error{File: "rules.yaml", Line: 12, Column: 9, Msg: `unknown field "sned"`}, `rules.yaml:12:9: unknown field "sned"`},
		{Error{File: "rules.yaml", Line: 3, Msg: "m"}, "rules.yaml:3:1: m"},
		{Error{File: "rules.yaml", Msg: "m"}, "rules.yaml: m"},
		{Error{Msg: "m"}, "m"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestListSortsAndUnwraps(t *testing.T) {
	var l List
	if l.Err() != nil {
		t.Fatal("an empty list is no error")
	}
	l.Add(&Error{File: "b.yaml", Line: 1, Msg: "third"}, &Error{File: "a.yaml", Line: 9, Msg: "second"})
	l.Add(&Error{File: "a.yaml", Line: 2, Column: 5, Msg: "first"})
	l.AddErr(nil, fmt.Errorf("plain"))
	l.SetFile("c.yaml")
	err := l.Err()
	want := "a.yaml:2:5: first\na.yaml:9:1: second\nb.yaml:1:1: third\nc.yaml: plain"
	if err.Error() != want {
		t.Fatalf("got\n%s\nwant\n%s", err, want)
	}
	var one *Error
	if !errors.As(err, &one) || one.Msg != "first" {
		t.Fatalf("errors.As found %v", one)
	}
	if n := len(Flatten(err)); n != 4 {
		t.Fatalf("Flatten gave %d errors, want 4", n)
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"sned", "send"},
		{"direciton", "direction"},
		{"tpye", "type"},
		{"zzzzzz", ""},
	} {
		if got := Suggest(tc.name, []string{"send", "direction", "type", "when"}); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
