package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
)

func (c *cli) receive(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry receive", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	relay := fs.String("relay", envOr("FERRY_RELAY", wormhole.DefaultRelay), "mailbox server `URL` (env FERRY_RELAY)")
	verify := fs.Bool("verify", false, "show the verifier and ask before accepting")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry receive [flags] [CODE]\n\nWithout CODE, ferry asks for it.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 1 {
		c.errorf("too many arguments: expected one code, got %d arguments", len(pos))
		c.hintf("a code is one word: NUMBER-WORD-WORD, joined by dashes")
		return exitUsage
	}
	var code string
	if len(pos) == 1 {
		code = pos[0]
	} else {
		code, err = c.prompt("Enter the code: ")
		if err != nil {
			c.errorf("%v", err)
			return exitUsage
		}
	}
	code = strings.TrimSpace(code)
	if _, err := wormhole.ParseCode(code); err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	res, err := receive.Run(ctx, code, receive.Options{
		Relay:  *relay,
		Verify: c.verifier(*verify),
		Logger: c.logger(*verbose),
	})
	if err != nil {
		return c.fail(ctx, err, "receive")
	}
	text := res.Text
	if isTerminal(c.stdout) {
		text = transfer.EscapeText(text)
	}
	fmt.Fprintln(c.stdout, text)
	return exitOK
}
