package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions/egress"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/dryrun"
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
	dest, ok := rs.Destinations[name]
	if !ok {
		fmt.Fprintf(s.err, "switchboard notify-test: no destination %q in the rules\n", name)
		return 1
	}
	kind := rs.Kind(dest.Kind)
	tester, okT := kind.(actions.Tester)
	deliverer, okD := kind.(actions.Deliverer)
	if !okT || !okD {
		fmt.Fprintf(s.err, "switchboard notify-test: %s destinations cannot send a test message\n", dest.Kind)
		return 1
	}
	if *text == "" {
		*text = fmt.Sprintf("Switchboard test message to destination %q, sent %s. No action is needed.", name, time.Now().UTC().Format(time.RFC1123))
	}
	req, err := tester.TestRequest(dest.Config, actions.TestOptions{Text: *text, To: *to})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard notify-test: %s\n", rs.RedactError(err.Error()))
		return 1
	}
	req.Kind, req.Destination = dest.Kind, name
	req.Key = fmt.Sprintf("notify-test:%d", time.Now().UnixNano())
	if wire, exact, err := rs.WireMasked(req); err == nil {
		if data, err := actions.JSON(wire); err == nil {
			text := dryrun.FormatWire(kind, wire, data)
			if !exact {
				text = rs.Redact(text)
			}
			fmt.Fprintf(s.out, "sending to %s (%s):\n%s\n", name, dest.Kind, text)
		}
	}
	// The same guard as the service's: a test reaches what a delivery would.
	guard := &egress.Guard{Allow: allow, Private: dest.AllowPrivate}
	sender, err := deliverer.NewSender(dest.Config, actions.SenderOptions{Timeout: *timeout, Egress: guard})
	if err != nil {
		fmt.Fprintf(s.err, "switchboard notify-test: %s\n", rs.RedactError(err.Error()))
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := sender.Send(ctx, req); err != nil {
		what := "failed (would be retried)"
		var ra *actions.RetryAfterError
		switch {
		case actions.IsPermanent(err):
			what = "failed permanently (would become a dead letter)"
		case errors.As(err, &ra):
			what = fmt.Sprintf("was refused for now (would be retried after %s)", ra.After)
		}
		fmt.Fprintf(s.out, "FAIL: the test message %s: %s\n", what, rs.RedactError(err.Error()))
		return 1
	}
	fmt.Fprintf(s.out, "OK: the test message was delivered to %s\n", name)
	return 0
}
