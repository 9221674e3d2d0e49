package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	quoted := make([]string, 0, len(args)-i-1)
	for _, a := range args[i+1:] {
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	cmd := exec.Command("script", "-qec", strings.Join(quoted, " "), "/dev/null")
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "FERRY_RELAY", "FERRY_STUN", "FERRY_ICE_LOOPBACK", "FERRY_TRANSIT", "FERRY_TEST_SHARED", "FERRY_CODE"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	stdin, err := cmd.StdinPipe()
	ts.Check(err)
	var mu sync.Mutex
	var out bytes.Buffer
	cmd.Stdout = writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	cmd.Stderr = cmd.Stdout
	ts.Check(cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	shown := func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	deadline := time.After(60 * time.Second)
	var werr error
	exited := false
	for !strings.Contains(shown(), wait) && !exited {
		select {
		case werr = <-done:
			exited = true
		case <-deadline:
			cmd.Process.Kill()
			werr, exited = <-done, true
			ts.Logf("ptytype: no %q within 60s", wait)
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, k := range keys {
		if exited {
			break
		}
		time.Sleep(200 * time.Millisecond)
		stdin.Write([]byte(k))
	}
	if !exited {
		select {
		case werr = <-done:
		case <-deadline:
			cmd.Process.Kill()
			werr = <-done
			ts.Logf("ptytype: timed out")
		}
	}
	stdin.Close()
	text := shown()
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "pty.out"), []byte(text), 0o644))
	ts.Logf("%q", text)
	if (werr != nil) != neg {
		ts.Fatalf("ptytype %s: %v", args[i+1], werr)
	}
}
