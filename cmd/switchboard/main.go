// Command switchboard is a rules-based automation engine for Cooby's
// WhatsApp webhooks: it evaluates each payload against YAML rules whose
// conditions are expr expressions and performs the rules' actions.
//
// Usage:
//
//	switchboard <command> [flags] [args]
//
// Run `switchboard help` for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io *stdio, args []string) int
}

// stdio is the process's standard streams, so commands run in tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func commands() []command {
	return []command{
		{"init", "write a starter rules file and sample payloads whose tests pass", runInit},
		{"check", "validate rules files and print every problem as file:line:col", runCheck},
		{"dryrun", "show what the rules would do with sample payloads; nothing is sent", runDryrun},
		{"test", "run the tests: cases of rules files", runTest},
		{"schedules", "list the scheduled rules and their next run times", runSchedules},
		{"serve", "run the service: webhook endpoint, durable store, evaluation, delivery", runServe},
		{"deliveries", "list recent and dead deliveries of a running server", runDeliveries},
		{"replay", "queue dead (or done) deliveries again on a running server", runReplay},
		{"status", "show a running server's rules, last reload and queue", runStatus},
		{"diff", "show what new rules would do differently with a server's recent events", runDiff},
		{"quarantine", "list, show or replay the bodies a running server refused as not Cooby payloads", runQuarantine},
		{"backup", "write a consistent copy of a running server's database", runBackup},
		{"migrate", "copy a SQLite data directory into a PostgreSQL database (serve --store)", runMigrate},
		{"healthcheck", "exit 0 if a local server is ready (GET /readyz), 1 if not: a container HEALTHCHECK", runHealthcheck},
		{"notify-test", "send a test message through a destination and print the outcome", runNotifyTest},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, s *stdio, args []string) int {
	if len(args) == 0 {
		usage(s.err)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			return run(ctx, s, []string{args[1], "--help"})
		}
		usage(s.out)
		return 0
	case "-version", "--version", "-v":
		return runVersion(ctx, s, nil)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, s, args[1:])
		}
	}
	fmt.Fprintf(s.err, "switchboard: unknown command %q\n\n", args[0])
	usage(s.err)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Switchboard evaluates Cooby WhatsApp webhooks against YAML rules and performs their actions.\n\n")
	fmt.Fprintf(w, "Usage:\n  switchboard <command> [flags] [args]\n\nCommands:\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun `switchboard <command> --help` for a command's flags. Flags: --version.\n")
}

func runVersion(_ context.Context, s *stdio, _ []string) int {
	fmt.Fprintln(s.out, "switchboard", versionString())
	return 0
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && len(st.Value) >= 12 {
				return "devel-" + st.Value[:12]
			}
		}
	}
	return "devel"
}

// newFlags makes a FlagSet for a command, printing its usage to s.err.
func newFlags(s *stdio, name, argsUsage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintf(s.err, "Usage: switchboard %s [flags] %s\n\n%s\n\nFlags:\n", name, argsUsage, help)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags wherever they appear among the arguments (Go's
// flag package stops at the first non-flag), and returns the positional
// arguments. `--` ends the flags; `-` is a positional argument (stdin).
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagExit is the exit code for a flag parse error: 0 for --help.
func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
