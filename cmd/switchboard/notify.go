package main

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions/egress"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/notifytest"
)

func runNotifyTest(ctx context.Context, s *stdio, args []string) int {
	fs := newFlags(s, "notify-test", "[-r] RULES DESTINATION",
		"Send a clearly marked test message through a named destination of the rules file and\n"+
			"print the outcome, to check a Slack webhook, an HTTP endpoint or an SMTP login before a\n"+
			"real message needs it. It prints the request as sent (secrets as ***).")
	rulesOpt := addRulesFlag(fs, "rules file or directory (repeatable)")
	to := fs.String("to", "", "recipient: an email address, or a Slack channel with a bot token")
	text := fs.String("message", "", "the message (default: a test notice with the time)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	egressAllow := fs.String("egress-allow", "", "networks the test may reach although private or local, as serve's --egress-allow")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagExit(err)
	}
	// The last argument is the destination; any before it are rules.
	if len(pos) == 0 {
		fs.Usage()
		return 2
	}
	rules := rulesOpt.with(pos[:len(pos)-1])
	pos = pos[len(pos)-1:]
	if len(rules) == 0 {
		fs.Usage()
		return 2
	}
	allow, err := egress.ParseAllow(splitList(*egressAllow))
	if err != nil {
		fmt.Fprintf(s.err, "switchboard notify-test: %v\n", err)
		return 2
	}
	rs, ok := loadOrReport(s, rules)
	if !ok {
		return 1
	}
	name := pos[0]
	t, err := notifytest.Prepare(rs, name, *text, *to, time.Now())
	if err != nil {
		fmt.Fprintf(s.err, "switchboard notify-test: %s\n", err)
		return 1
	}
	dest, req := t.Destination, t.Request
	if t.Preview != "" {
		fmt.Fprintf(s.out, "sending to %s (%s):\n%s\n", name, dest.Kind, t.Preview)
	}
	// The same guard as the service's: a test reaches what a delivery would.
	guard := &egress.Guard{Allow: allow, Private: dest.AllowPrivate}
	sender, err := t.Deliverer.NewSender(dest.Config, actions.SenderOptions{Timeout: *timeout, Egress: guard})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard notify-test: %s\n", rs.RedactError(err.Error()))
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ok, msg := notifytest.Outcome(rs, name, sender.Send(ctx, req))
	fmt.Fprintln(s.out, msg)
	if !ok {
		return 1
	}
	return 0
}
