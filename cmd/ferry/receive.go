package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

func (c *cli) receive(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry receive", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	relay := fs.String("relay", envOr("FERRY_RELAY", send.DefaultRelay), relayUsage)
	verify := fs.Bool("verify", false, "show the verifier and ask before accepting")
	out := fs.String("out", ".", "folder to save files in (\"-\": write a single file to stdout)")
	yes := fs.Bool("yes", false, "accept files without asking")
	overwrite := fs.Bool("overwrite", false, "replace files and folders that already exist")
	allowDot := fs.Bool("allow-dotfiles", false, "accept top-level names that start with a dot (.bashrc, .profile)")
	noResume := fs.Bool("no-resume", false, "discard what an earlier, interrupted receive of the same files left in --out, and keep nothing if this one fails")
	offerTimeout := fs.Duration("offer-timeout", receive.DefaultOfferTimeout, "once the sender is met, how long to wait for what it offers before giving up (a sender that stopped)")
	linkf := addLinkFlags(fs)
	keyPassFile := fs.String("key-passphrase-file", "", "read your key's passphrase, for a transfer sealed to it, from `FILE` (else "+envKeyPassphrase+" or a prompt)")
	lanMode := addLANFlag(fs)
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry receive [flags] [CODE]\n\nWithout CODE, ferry takes the code from %s, or asks for it; CODE \"-\" reads it from stdin.\nA CODE on the command line can be read by other users of this computer.\n\nFlags:\n", envCode)
		fs.PrintDefaults()
	}
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) > 1 {
		c.errorf("too many arguments: expected one code, got %d arguments", len(pos))
		c.hintf("a code is one word: NUMBER-WORD-WORD, joined by dashes")
		return exitUsage
	}
	var code, codeFrom string
	inArgs := false
	switch {
	case len(pos) == 1 && pos[0] == "-":
		code, err = c.codeFromStdin(ctx)
	case len(pos) == 1:
		code, inArgs = pos[0], true
	case os.Getenv(envCode) != "":
		code, codeFrom = os.Getenv(envCode), envCode+": "
	default:
		code, err = c.promptCode(ctx, *relay)
	}
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		c.errorf("interrupted")
		return exitFailure
	}
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	code = strings.TrimSpace(code)
	if code, err = c.codeURI(fs, code, relay); err != nil {
		c.errorf("%s%v", codeFrom, err)
		return exitUsage
	}
	if err := receive.CheckCode(code); err != nil {
		return c.badCode(codeFrom, err)
	}
	if inArgs {
		c.warnCodeInArgs("receive")
	}
	lk, err := linkf.config()
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	if *offerTimeout <= 0 {
		c.errorf("--offer-timeout must be positive, not %s", *offerTimeout)
		return exitUsage
	}
	log := c.logger(*verbose)
	lanNet, lanOnly, err := lanConfig(*lanMode, log)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	var bar *progress
	opts := receive.Options{
		Relay:            *relay,
		Verify:           c.verifier(ctx, *verify),
		Logger:           log,
		LAN:              lanNet,
		LANOnly:          lanOnly,
		Out:              *out,
		Stdout:           c.stdout,
		Overwrite:        *overwrite,
		AllowDotfiles:    *allowDot,
		Transport:        lk.transport,
		TransitRelay:     lk.transitRelay,
		FromRelay:        lk.fromRelay,
		NAT:              lk.nat,
		ConnectTimeout:   lk.connectTimeout,
		IdleTimeout:      lk.idleTimeout,
		OnConnecting:     c.connecting,
		ReconnectTimeout: lk.reconnectTimeout,
		Stripes:          lk.stripes,
		OfferTimeout:     *offerTimeout,
		OnReconnecting: func(attempt int, why error) {
			if bar != nil {
				bar.clear()
			}
			c.reconnecting(attempt, why)
		},
		NoResume: *noResume,
		Resume: receive.Resume{
			OnResume: func(name string, at, size int64) {
				fmt.Fprintf(c.stderr, "Resuming %s at %s of %s\n", escape.String(name), receive.Bytes(at), receive.Bytes(size))
			},
			OnRestart: func(name, why string) {
				fmt.Fprintf(c.stderr, "Starting %s over from zero: %s\n", escape.String(name), why)
			},
		},
		Accept: func(m receive.Manifest) error {
			fmt.Fprintf(c.stderr, "Receiving %s", describeManifest(m))
			if !*yes {
				ans, err := c.prompt(ctx, "Accept? [y/N] ")
				if err != nil {
					return err
				}
				if a := strings.ToLower(ans); a != "y" && a != "yes" {
					return receive.ErrDeclined
				}
			}
			if isTerminal(c.stderr) {
				bar = newProgress(c.stderr)
			}
			return nil
		},
		Progress: func(n, total int64) {
			if bar != nil {
				bar.update(n, total)
			}
		},
	}
	c.openSealed(&opts, *keyPassFile)
	res, err := receive.Run(ctx, code, opts)
	if bar != nil {
		bar.clear()
	}
	if err != nil {
		return c.fail(ctx, err, "receive")
	}
	if len(res.Manifest.Entries) > 0 {
		where := *out
		if where == "-" {
			where = "stdout"
		}
		c.reportSealed(res)
		fmt.Fprintf(c.stderr, "Received %s over %s into %s.\n", receive.Rate(res.Manifest.Bytes, res.Duration), res.Path, where)
		return exitOK
	}
	text := res.Text
	if isTerminal(c.stdout) {
		text = escape.Text(text)
	}
	fmt.Fprintln(c.stdout, text)
	return exitOK
}
