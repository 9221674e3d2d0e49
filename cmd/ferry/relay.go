package main

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/ferrydrop/ferry/relay"
)

func (c *cli) relay(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry relay", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	listen := fs.String("listen", ":4000", "serve the mailbox websocket on `ADDR` (at /v1)")
	data := fs.String("data", "", "keep nameplates and mailboxes in `DIR` so they survive a restart (default: in memory)")
	motd := fs.String("motd", "", "message of the day sent to clients")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry relay [flags]\n\nServes a Magic Wormhole mailbox at ws://ADDR/v1.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 0 {
		c.errorf("ferry relay takes no arguments (got %q)", pos[0])
		return exitUsage
	}
	srv, err := relay.New(relay.Config{DataDir: *data, MOTD: *motd, Logger: c.logger(*verbose)})
	if err != nil {
		c.errorf("start relay: %v", err)
		return exitFailure
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		c.errorf("listen on %s: %v", *listen, err)
		return exitFailure
	}
	fmt.Fprintf(c.stderr, "ferry: relay listening on ws://%s/v1\n", ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		c.errorf("relay: %v", err)
		return exitFailure
	}
	return exitOK
}
