package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// ptytype [-wait TEXT] KEYS... -- PROG [ARGS...]: run PROG on a
// pseudo-terminal (via util-linux script(1)), wait until it writes TEXT
// (default the code prompt), then type each KEYS (Go escapes: \t is Tab,
// \r Enter) a moment apart, and wait (up to 60 s) for PROG to end. What
// the terminal showed is saved in $WORK/pty.out.
func cmdPtyType(ts *testscript.TestScript, neg bool, args []string) {
	wait := codePrompt
	if len(args) >= 2 && args[0] == "-wait" {
		wait, args = args[1], args[2:]
	}
	i := 0
	for i < len(args) && args[i] != "--" {
		i++
	}
	if i == len(args) || i+1 == len(args) {
		ts.Fatalf("usage: ptytype [-wait TEXT] KEYS... -- PROG [ARGS...]")
	}
	var keys []string
	for _, k := range args[:i] {
		u, err := strconv.Unquote(`"` + k + `"`)
		if err != nil {
			ts.Fatalf("ptytype: keys %q: %v", k, err)
		}
		keys = append(keys, u)
	}
	p := startPty(ts, []string{"PATH", "HOME", "TMPDIR", "FERRY_RELAY", "FERRY_STUN", "FERRY_ICE_LOOPBACK", "FERRY_TRANSIT", "FERRY_TEST_SHARED", "FERRY_CODE"}, args[i+1:])
	deadline := time.After(60 * time.Second)
	var werr error
	exited := false
	for !strings.Contains(p.shown(), wait) && !exited {
		select {
		case werr = <-p.done:
			exited = true
		case <-deadline:
			werr, exited = p.kill(), true
			ts.Logf("ptytype: no %q within 60s", wait)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, k := range keys {
		if exited {
			break
		}
		time.Sleep(200 * time.Millisecond)
		p.stdin.Write([]byte(k))
	}
	if !exited {
		select {
		case werr = <-p.done:
		case <-deadline:
			werr = p.kill()
			ts.Logf("ptytype: timed out")
		}
	}
	p.finish(ts)
	if (werr != nil) != neg {
		ts.Fatalf("ptytype %s: %v", args[i+1], werr)
	}
}
