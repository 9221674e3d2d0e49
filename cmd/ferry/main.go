// Command ferry sends files and text between computers with a short code,
// end-to-end encrypted, speaking the Magic Wormhole protocol.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/send"
)

const usage = `ferry sends files and text to another computer with a short code.

Usage:
  ferry send [flags] PATH...            send files and folders ("-" sends stdin, named by --name)
  ferry send [flags] --text MESSAGE     send a text message ("-" reads it from stdin)
  ferry receive [flags] [CODE]          receive with the code the sender gave you (asked for
                                        without CODE, or taken from FERRY_CODE; "-" reads it from stdin)
  ferry relay [flags]                   run a mailbox, transit, STUN and TURN server for ferry and Magic Wormhole clients
  ferry encrypt [-r KEY]... FILE        encrypt a file for an email attachment (gpg and sq open it)
  ferry decrypt FILE                    decrypt and verify an OpenPGP message
  ferry key generate|list|export|import|delete   manage your OpenPGP keys
  ferry completion bash|zsh|fish        print a shell completion script ("source <(ferry completion bash)")
  ferry version                         print the version

Run "ferry COMMAND -h" for the flags of a command.
`

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// quic-go, which now drives the ICE path's UDP sockets itself, prints a
	// warning on the standard logger when it cannot grow their buffers to
	// 7 MiB (no CAP_NET_ADMIN and a small net.core.rmem_max). ferry stays
	// silent by default; its debug log shows the sizes it got.
	if _, set := os.LookupEnv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING"); !set {
		_ = os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is ferry's whole command line on these streams: it returns the exit
// code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newCLI(stdin, stdout, stderr).run(ctx, args)
}

// newCLI returns the command line on these streams, on this computer.
func newCLI(stdin io.Reader, stdout, stderr io.Writer) *cli {
	return &cli{stdin: newLineReader(stdin), stdout: stdout, stderr: stderr, sharedComputer: sharedComputer}
}

// run runs one command.
func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(c.stdout, "ferry", send.Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	if cmd, ok := findCommand(c.commands(), args[0]); ok {
		return cmd.run(ctx, args[1:])
	}
	c.errorf("unknown command %q", args[0])
	c.hintf("run \"ferry help\" for the commands")
	return exitUsage
}

// command is one of ferry's commands (or of ferry key's): what dispatches
// it and what its shell completion offers.
type command struct {
	name    string
	aliases []string
	summary string
	run     func(ctx context.Context, args []string) int
	sub     []command // ferry key's subcommands
}

// commands are ferry's commands, besides version and help.
func (c *cli) commands() []command {
	return []command{
		{name: "send", summary: "send files, folders or a text", run: c.send},
		{name: "receive", aliases: []string{"recv", "rx"}, summary: "receive with a code", run: c.receive},
		{name: "relay", summary: "run a mailbox, transit, STUN and TURN server", run: c.relay},
		{name: "encrypt", summary: "encrypt a file for an email attachment", run: c.encrypt},
		{name: "decrypt", summary: "decrypt and verify an OpenPGP message", run: c.decrypt},
		{name: "key", summary: "manage your OpenPGP keys", run: c.key, sub: c.keyCommands()},
		{name: "completion", summary: "print a shell completion script (bash, zsh or fish)", run: c.completion},
	}
}

// findCommand looks name up among cmds, aliases too.
func findCommand(cmds []command, name string) (command, bool) {
	for _, cmd := range cmds {
		if cmd.name == name || slices.Contains(cmd.aliases, name) {
			return cmd, true
		}
	}
	return command{}, false
}

// cli is what every subcommand writes to and reads from.
type cli struct {
	stdin          *lineReader
	stdout, stderr io.Writer

	// sharedComputer reports whether other people can log in to this
	// computer and read our command line (tests replace it).
	sharedComputer func() bool

	qrPNG, relayURL string // for ferry send's code display
	qrKind          string // --qr: auto, web or app
	pageLink        string // the relay's web page with the code, if it serves one

	// collectFlags, when set, is handed each command's flag set in place
	// of parsing it (ferry completion).
	collectFlags func(*flag.FlagSet)
}

// errorf, warnf and hintf print one line each. The whole line goes through
// escape.Terminal: text from a peer or a relay is escaped where it enters
// an error (escape.String, escape.Quote), and this is the last guard
// for any that is not.
func (c *cli) errorf(format string, a ...any) { c.say("error", format, a...) }

func (c *cli) warnf(format string, a ...any) { c.say("warning", format, a...) }

func (c *cli) hintf(format string, a ...any) { c.say("hint", format, a...) }

func (c *cli) say(kind, format string, a ...any) {
	fmt.Fprintf(c.stderr, "ferry: %s: %s\n", kind, escape.Terminal(fmt.Sprintf(format, a...)))
}

// connecting tells the user which paths are tried when a connection
// takes a while.
func (c *cli) connecting(paths []string) {
	fmt.Fprintf(c.stderr, "connecting… (%s)\n", strings.Join(paths, ", "))
}

// reconnecting says that the connection broke and a new path is sought.
func (c *cli) reconnecting(attempt int, why error) {
	if attempt == 1 {
		fmt.Fprintf(c.stderr, "reconnecting… (the connection broke: %s)\n", escape.String(why.Error()))
		return
	}
	fmt.Fprintf(c.stderr, "reconnecting… (attempt %d: %s)\n", attempt, escape.String(why.Error()))
}

// logger is silent unless -v was given; then it logs debug lines to
// stderr. Either way it shows a relay's message of the day.
func (c *cli) logger(verbose bool) *slog.Logger {
	var next slog.Handler = slog.DiscardHandler
	if verbose {
		next = slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return slog.New(newMOTDHandler(next, c.stderr))
}

// parseFlags parses flags that may come before, between or after the
// positional arguments ("ferry receive CODE -v"); "--" ends flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagError reports a flag parsing error; -h is not an error.
func flagError(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// envOr returns the environment variable's value, or def when unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
