package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// emailCmds are the testscript commands of the email scenarios.
func emailCmds() map[string]func(*testscript.TestScript, bool, []string) {
	return map[string]func(*testscript.TestScript, bool, []string){
		"ptyexec": cmdPtyExec,
		"nopart":  cmdNoPart,
		"flipbit": cmdFlipBit,
	}
}

// ptyexec PASSWORD PROG [ARGS...]: run PROG on a pseudo-terminal (via
// util-linux script(1)) and answer each password or passphrase prompt with
// PASSWORD. sq 0.27 reads passwords only from a terminal; ferry asks on
// one when no file or variable gives the passphrase. The terminal's output is
// saved in $WORK/pty.out.
func cmdPtyExec(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: ptyexec PASSWORD PROG [ARGS...]")
	}
	pw := args[0]
	p := startPty(ts, []string{"PATH", "HOME", "TMPDIR", "GNUPGHOME", "FERRY_HOME"}, args[1:])
	answered := 0
	deadline := time.After(60 * time.Second)
	var werr error
loop:
	for {
		select {
		case werr = <-p.done:
			break loop
		case <-deadline:
			werr = p.kill()
			ts.Logf("ptyexec: timed out")
			break loop
		case <-time.After(50 * time.Millisecond):
		}
		low := strings.ToLower(p.shown())
		prompts := strings.Count(low, "password") + strings.Count(low, "passphrase")
		if prompts > answered {
			// Let the program turn echo off before the answer arrives.
			time.Sleep(300 * time.Millisecond)
			p.stdin.Write([]byte(pw + "\n"))
			answered = prompts
		}
	}
	p.finish(ts)
	if (werr != nil) != neg {
		ts.Fatalf("ptyexec %s: %v", args[1], werr)
	}
}

// nopart DIR: no temporary file (.ferry-*.part) is left in DIR.
func cmdNoPart(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: nopart DIR")
	}
	m, err := filepath.Glob(filepath.Join(ts.MkAbs(args[0]), ".ferry-*.part"))
	ts.Check(err)
	if (len(m) > 0) != neg {
		ts.Fatalf("temporary files in %s: %v", args[0], m)
	}
}

// flipbit FILE OFFSET: flip the lowest bit of the byte at OFFSET (from the
// end when negative).
func cmdFlipBit(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: flipbit FILE OFFSET")
	}
	name := ts.MkAbs(args[0])
	b, err := os.ReadFile(name)
	ts.Check(err)
	off, err := strconv.Atoi(args[1])
	ts.Check(err)
	if off < 0 {
		off += len(b)
	}
	if off < 0 || off >= len(b) {
		ts.Fatalf("flipbit: offset %s outside %d bytes", args[1], len(b))
	}
	b[off] ^= 1
	ts.Check(os.WriteFile(name, b, 0o644))
}
