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
	stunListen := fs.String("stun-listen", "", "also answer STUN on UDP `ADDR` (e.g. :3478)")
	turnListen := fs.String("turn-listen", "", "also run a TURN server on UDP `ADDR` (e.g. :3479); needs --turn-ip and credentials")
	turnIP := fs.String("turn-ip", "", "the public `IP` the TURN server advertises for relayed traffic")
	turnUser := fs.String("turn-user", envOr("FERRY_TURN_USER", ""), "static TURN user name (env FERRY_TURN_USER)")
	turnPass := fs.String("turn-pass", envOr("FERRY_TURN_PASS", ""), "static TURN password (env FERRY_TURN_PASS)")
	turnSecret := fs.String("turn-secret", envOr("FERRY_TURN_SECRET", ""), "shared `SECRET` for time-limited TURN credentials (env FERRY_TURN_SECRET)")
	transitListen := fs.String("transit-listen", "", "also run a transit relay for classic clients on TCP `ADDR` (e.g. :4001)")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry relay [flags]\n\nServes a Magic Wormhole mailbox at ws://ADDR/v1, and with --transit-listen\na transit relay (\"please relay\" over TCP) for classic clients.\n\nFlags:\n")
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
	if *stunListen != "" || *turnListen != "" {
		ice, err := relay.StartICE(ctx, relay.ICEConfig{
			STUNListen: *stunListen, TURNListen: *turnListen, RelayIP: *turnIP,
			User: *turnUser, Password: *turnPass, SharedSecret: *turnSecret,
			Logger: c.logger(*verbose),
		})
		if err != nil {
			ln.Close()
			c.errorf("start STUN/TURN: %v", err)
			return exitFailure
		}
		defer ice.Close()
		if a := ice.STUNAddr(); a != nil {
			fmt.Fprintf(c.stderr, "ferry: STUN on stun:%s\n", a)
		}
		if a := ice.TURNAddr(); a != nil {
			fmt.Fprintf(c.stderr, "ferry: TURN on turn:%s?transport=udp\n", a)
		}
	}
	var waitTransit func() error
	if *transitListen != "" {
		tln, err := net.Listen("tcp", *transitListen)
		if err != nil {
			ln.Close()
			c.errorf("listen on %s: %v", *transitListen, err)
			return exitFailure
		}
		fmt.Fprintf(c.stderr, "ferry: transit relay on tcp:%s\n", tln.Addr())
		transit := relay.NewTransit(relay.TransitConfig{Logger: c.logger(*verbose)})
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			err := transit.Serve(tctx, tln)
			cancel() // a transit relay that fails stops the mailbox too
			errc <- err
		}()
		waitTransit = func() error { cancel(); return <-errc }
		ctx = tctx
	}
	code := exitOK
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		c.errorf("relay: %v", err)
		code = exitFailure
	}
	if waitTransit != nil {
		if err := waitTransit(); err != nil {
			c.errorf("transit relay: %v", err)
			code = exitFailure
		}
	}
	return code
}
