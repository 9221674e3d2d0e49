package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ferrydrop/ferry/escape"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
	"github.com/skip2/go-qrcode"
)

func (c *cli) send(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry send", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	relay := fs.String("relay", envOr("FERRY_RELAY", send.DefaultRelay), relayUsage)
	text := fs.String("text", "", "send this text `MESSAGE` instead of files (\"-\" reads it from stdin)")
	code := fs.String("code", "", "use this `CODE` instead of asking the relay for one (env "+envCode+"; \"-\" reads it from stdin)")
	words := fs.Int("code-length", 2, "`N` words in a generated code")
	verify := fs.Bool("verify", false, "show the verifier and ask before sending")
	linkf := addLinkFlags(fs)
	qrPNG := fs.String("qr-png", "", "also write the code's QR code as a PNG to `FILE`")
	qrKind := fs.String("qr", "auto", "what the QR code opens: `auto` (the relay's web page when it serves one, else a Magic Wormhole app), web or app")
	name := fs.String("name", "", "the `NAME` stdin arrives as (with PATH \"-\")")
	seal := addSealFlags(fs)
	lanMode := addLANFlag(fs)
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry send [flags] PATH...\n       ferry send [flags] --text MESSAGE\n\nPATH \"-\" sends stdin (name it with --name).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := c.parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	isText := false
	fs.Visit(func(f *flag.Flag) { isText = isText || f.Name == "text" })
	if !isText && len(pos) == 0 {
		c.errorf("nothing to send")
		c.hintf("ferry send PATH... or ferry send --text MESSAGE")
		return exitUsage
	}
	lk, err := linkf.config()
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	if isText && seal.used() {
		c.errorf("--to and --sign seal files, not --text")
		c.hintf("put the text in a file and send that")
		return exitUsage
	}
	if isText && len(pos) > 0 {
		c.errorf("--text takes no file arguments (got %q)", pos[0])
		return exitUsage
	}
	if *words < 1 || *words > 16 {
		c.errorf("--code-length must be between 1 and 16")
		return exitUsage
	}
	inArgs, codeFrom := *code != "" && *code != "-", "--code"
	switch {
	case *code == "-" && ((isText && *text == "-") || slices.Contains(pos, "-")):
		c.errorf("--code - and the data cannot both come from stdin")
		c.hintf("pass the code in %s instead", envCode)
		return exitUsage
	case *code == "-":
		if *code, err = c.codeFromStdin(ctx); err != nil {
			if ctx.Err() != nil {
				c.errorf("interrupted")
				return exitFailure
			}
			c.errorf("%v", err)
			return exitUsage
		}
	case *code == "":
		*code, codeFrom = os.Getenv(envCode), envCode
	}
	if *code != "" {
		if err := send.CheckCode(*code); err != nil {
			return c.badCode(codeFrom+": ", err)
		}
	}
	if inArgs {
		c.warnCodeInArgs("send")
	}
	switch *qrKind {
	case "auto", "web", "app":
	default:
		c.errorf("--qr: unknown kind %q (want auto, web or app)", *qrKind)
		return exitUsage
	}
	if *qrPNG != "" {
		if _, err := os.Lstat(*qrPNG); err == nil {
			c.errorf("--qr-png: %s already exists", *qrPNG)
			return exitUsage
		}
	}
	c.qrPNG, c.qrKind = *qrPNG, *qrKind
	c.relayURL, _, _ = strings.Cut(*relay, ",") // until OnRelay names the one in use
	c.relayURL = strings.TrimSpace(c.relayURL)
	log := c.logger(*verbose)
	lanNet, lanOnly, err := lanConfig(*lanMode, log)
	if err != nil {
		c.errorf("%v", err)
		return exitUsage
	}
	opts := send.Options{
		OnLink:    func(link string) { c.pageLink = link },
		OnRelay:   func(url string) { c.relayURL = url },
		Relay:     *relay,
		Code:      *code,
		CodeWords: *words,
		Verify:    c.verifier(ctx, *verify),
		Logger:    log,
		LAN:       lanNet,
		LANOnly:   lanOnly,
		OnNoRelay: func(error) { fmt.Fprintln(c.stderr, noRelayLine) },
	}
	if !isText {
		fo := send.FileOptions{Options: opts, Transport: lk.transport, TransitRelay: lk.transitRelay, FromRelay: lk.fromRelay, NAT: lk.nat, Stdin: c.stdin.r, StdinName: *name,
			ConnectTimeout: lk.connectTimeout, IdleTimeout: lk.idleTimeout, OnConnecting: c.connecting, ReconnectTimeout: lk.reconnectTimeout,
			Stripes: lk.stripes}
		if seal.used() {
			stdinBusy := len(pos) == 1 && pos[0] == "-"
			if fo.To, fo.Signer, err = c.sealKeys(seal, stdinBusy); err != nil {
				c.errorf("%v", err)
				return exitFailure
			}
		}
		return c.sendFiles(ctx, fo, pos)
	}
	msg := *text
	if msg == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin.r, send.MaxText+1))
		if err != nil {
			c.errorf("read text from stdin: %v", err)
			return exitFailure
		}
		msg = string(b)
	}
	if len(msg) > send.MaxText {
		c.errorf("text is larger than %d bytes", send.MaxText)
		c.hintf("send it as a file instead")
		return exitUsage
	}
	opts.OnCode = func(code string) {
		fmt.Fprintf(c.stderr, "Sending a text message (%s).\n", receive.Bytes(int64(len(msg))))
		c.showCode(code)
	}
	if err := send.Text(ctx, opts, msg); err != nil {
		return c.fail(ctx, err, "send")
	}
	fmt.Fprintln(c.stderr, "Text message sent.")
	return exitOK
}

func (c *cli) sendFiles(ctx context.Context, opts send.FileOptions, paths []string) int {
	opts.OnSkip = func(path, why string) {
		fmt.Fprintf(c.stderr, "ferry: skipping %s: %s\n", escape.String(path), why)
	}
	var bar *progress
	if isTerminal(c.stderr) {
		bar = newProgress(c.stderr)
		opts.Progress = bar.update
	}
	opts.OnReconnecting = func(attempt int, why error) {
		if bar != nil {
			bar.clear()
		}
		c.reconnecting(attempt, why)
	}
	opts.OnCode = func(code string) {
		fmt.Fprintf(c.stderr, "Sending %s.\n", strings.Join(paths, ", "))
		for _, e := range opts.To {
			fmt.Fprintf(c.stderr, "Sealed to %s.\n", describeKey(e))
		}
		if opts.Signer != nil {
			fmt.Fprintf(c.stderr, "Signed by %s.\n", describeKey(opts.Signer))
		}
		c.showCode(code)
	}
	sum, err := send.Files(ctx, opts, paths)
	if bar != nil {
		bar.clear()
	}
	if err != nil {
		return c.fail(ctx, err, "send")
	}
	fmt.Fprintf(c.stderr, "Sent %s over %s.\n", receive.Rate(sum.Bytes, sum.Duration), sum.Path)
	return exitOK
}

// showCode tells the user the code to pass on, with a QR code of its
// wormhole-transfer: URI (for phone apps) when stderr is a terminal.
//
// When the relay serves ferry's web page, the user is also given the link
// that opens it with the code (any browser can receive), and the QR code
// opens that link unless --qr app asks for the app's URI.
func (c *cli) showCode(code string) {
	link := send.AppLink(code, c.relayURL)
	if c.pageLink != "" && c.qrKind != "app" {
		link = c.pageLink
	} else if c.qrKind == "web" {
		fmt.Fprintf(c.stderr, "ferry: warning: --qr web: the relay serves no web page; the QR code is for a Magic Wormhole app\n")
	}
	if isTerminal(c.stderr) {
		if q, err := qrcode.New(link, qrcode.Low); err == nil {
			fmt.Fprint(c.stderr, q.ToSmallString(false))
		}
	}
	if c.qrPNG != "" {
		if err := writeQR(c.qrPNG, link); err != nil {
			fmt.Fprintf(c.stderr, "ferry: warning: write QR code: %v\n", err)
		}
	}
	fmt.Fprintf(c.stderr, "Code: %s\n", code)
	fmt.Fprintf(c.stderr, "On the other computer, run \"ferry receive\" and enter the code.\n")
	if c.pageLink != "" {
		// checked by the mailbox client: printable ASCII, http or https
		fmt.Fprintf(c.stderr, "Or open: %s\n", c.pageLink)
	}
}

// writeQR writes the QR code of link as a PNG, never over an existing file.
func writeQR(path, link string) error {
	png, err := qrcode.Encode(link, qrcode.Medium, 512)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(png); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
