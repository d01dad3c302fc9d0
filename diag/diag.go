// Package diag holds the positioned problems that loading rules reports:
// an Error is one problem at "file:line:col", a List collects them, and
// Suggest finds the "did you mean" for a misspelt name.
//
// It sits below engine and actions (both return its errors) and above
// nothing but the YAML library, so a program that embeds either can inspect
// the problems with errors.As.
package diag

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem found in a YAML file, with its position.
// Line and Column are 1-based; zero means unknown.
type Error struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Msg    string `json:"message"`
}

// Error formats the problem as "file:line:col: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, max(e.Column, 1))
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// At returns an Error positioned at node n (which may be nil).
func At(n *yaml.Node, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// List is a set of positioned errors. Its zero value is empty and ready to use.
type List struct {
	Errs []*Error
}

// Add appends errors to the list.
func (l *List) Add(errs ...*Error) { l.Errs = append(l.Errs, errs...) }

// Addf appends an error positioned at n.
func (l *List) Addf(n *yaml.Node, format string, args ...any) {
	l.Errs = append(l.Errs, At(n, format, args...))
}

// AddErr appends err: a *Error or a *ListError keeps its positions, any
// other error is positioned at n.
func (l *List) AddErr(n *yaml.Node, err error) {
	switch e := err.(type) {
	case nil:
	case *Error:
		l.Errs = append(l.Errs, e)
	case *ListError:
		l.Errs = append(l.Errs, e.Errs...)
	default:
		l.Errs = append(l.Errs, At(n, "%s", err.Error()))
	}
}

// Len reports how many errors the list holds.
func (l *List) Len() int { return len(l.Errs) }

// SetFile sets File on every error that has none.
func (l *List) SetFile(file string) {
	for _, e := range l.Errs {
		if e.File == "" {
			e.File = file
		}
	}
}

// Err returns nil if the list is empty, otherwise a *ListError holding the
// errors sorted by file and position.
func (l *List) Err() error {
	if len(l.Errs) == 0 {
		return nil
	}
	errs := append([]*Error(nil), l.Errs...)
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &ListError{Errs: errs}
}

// ListError is the error returned by List.Err: one or more positioned
// problems, printed one per line.
type ListError struct {
	Errs []*Error
}

// Error prints every problem, one per line.
func (e *ListError) Error() string {
	lines := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (e *ListError) Unwrap() []error {
	out := make([]error, len(e.Errs))
	for i, err := range e.Errs {
		out[i] = err
	}
	return out
}

// Flatten returns the positioned errors inside err: the members of a
// *ListError, a single *Error, or, for any other error, one Error without a
// position.
func Flatten(err error) []*Error {
	switch e := err.(type) {
	case nil:
		return nil
	case *ListError:
		return e.Errs
	case *Error:
		return []*Error{e}
	default:
		return []*Error{{Msg: err.Error()}}
	}
}
