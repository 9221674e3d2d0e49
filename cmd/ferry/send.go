package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/send"
)

func (c *cli) send(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("ferry send", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	relay := fs.String("relay", envOr("FERRY_RELAY", wormhole.DefaultRelay), "mailbox server `URL` (env FERRY_RELAY)")
	text := fs.String("text", "", "send this text `MESSAGE` instead of files (\"-\" reads it from stdin)")
	code := fs.String("code", "", "use this `CODE` instead of asking the relay for one")
	words := fs.Int("code-length", 2, "`N` words in a generated code")
	verify := fs.Bool("verify", false, "show the verifier and ask before sending")
	verbose := fs.Bool("v", false, "log debug output to stderr")
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "Usage: ferry send [flags] --text MESSAGE\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseFlags(fs, args)
	if err != nil {
		return flagError(err)
	}
	isText := false
	fs.Visit(func(f *flag.Flag) { isText = isText || f.Name == "text" })
	if !isText {
		if len(pos) == 0 {
			c.errorf("nothing to send")
			c.hintf("ferry send --text MESSAGE")
			return exitUsage
		}
		c.errorf("sending files is not supported by this build yet")
		c.hintf("send a text message with --text MESSAGE")
		return exitUsage
	}
	if len(pos) > 0 {
		c.errorf("--text takes no file arguments (got %q)", pos[0])
		return exitUsage
	}
	if *words < 1 || *words > 16 {
		c.errorf("--code-length must be between 1 and 16")
		return exitUsage
	}
	if *code != "" {
		if _, err := wormhole.ParseCode(*code); err != nil {
			c.errorf("--code: %v", err)
			return exitUsage
		}
	}
	msg := *text
	if msg == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin.r, transfer.MaxText+1))
		if err != nil {
			c.errorf("read text from stdin: %v", err)
			return exitFailure
		}
		msg = string(b)
	}
	if len(msg) > transfer.MaxText {
		c.errorf("text is larger than %d bytes", transfer.MaxText)
		c.hintf("send it as a file instead")
		return exitUsage
	}
	opts := send.Options{
		Relay:     *relay,
		Code:      *code,
		CodeWords: *words,
		Verify:    c.verifier(*verify),
		Logger:    c.logger(*verbose),
		OnCode: func(code string) {
			fmt.Fprintf(c.stderr, "Sending a text message (%s).\n", byteCount(int64(len(msg))))
			fmt.Fprintf(c.stderr, "Code: %s\n", code)
			fmt.Fprintf(c.stderr, "On the other computer, run: ferry receive %s\n", code)
		},
	}
	if err := send.Text(ctx, opts, msg); err != nil {
		return c.fail(ctx, err, "send")
	}
	fmt.Fprintln(c.stderr, "Text message sent.")
	return exitOK
}

// byteCount formats n bytes for people: 5 bytes, 1.2 MB.
func byteCount(n int64) string {
	if n < 1000 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	f, unit := float64(n), "kB"
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f, unit = f/1000, u
		if f < 1000 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}
