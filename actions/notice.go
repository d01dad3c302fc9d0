package actions

import (
	"fmt"
	"time"
)

// Notice is a message from the service itself to a destination, such as
// the summary of new dead letters a rules file's `on_dead_letter:` asks
// for. Its text is written by the service; the error texts it quotes have
// had their secrets removed, but are still escaped as payload text.
type Notice struct {
	// Type names the notice for machines ("dead_letters").
	Type string
	// Subject is one line: an email's subject, a chat message's first line.
	Subject string
	// Text is the body, plain text of a few lines.
	Text string
	// Count is how many things the notice is about (dead letters), and
	// From and To the time they span.
	Count    int
	From, To time.Time
}

// Noticer is implemented by kinds that can carry a Notice in their own
// form (an email with that subject, a Slack message, a JSON POST). Kinds
// without it carry a notice as a test message (see Tester).
type Noticer interface {
	NoticeRequest(dest any, n Notice) (Request, error)
}

// CanNotify reports whether destinations of kind k can carry a Notice.
func CanNotify(k Kind) bool {
	if c, ok := k.(interface{ canNotice() bool }); ok {
		return c.canNotice()
	}
	_, d := k.(Deliverer)
	_, n := k.(Noticer)
	_, t := k.(Tester)
	return d && (n || t)
}

// NoticeRequest renders n for a destination of kind k, whose parsed
// configuration is dest: by the kind's Noticer, else as its test message.
func NoticeRequest(k Kind, dest any, n Notice) (Request, error) {
	if nk, ok := k.(Noticer); ok {
		return nk.NoticeRequest(dest, n)
	}
	if t, ok := k.(Tester); ok {
		return t.TestRequest(dest, TestOptions{Text: n.Subject + "\n\n" + n.Text})
	}
	return Request{}, fmt.Errorf("destinations of this kind cannot carry a notice")
}
