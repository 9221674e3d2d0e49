// Package peertest runs the reference Magic Wormhole client (Python's
// `wormhole`) for the tests of several packages. Only tests import it.
package peertest

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Wormhole is the path of Python's `wormhole` command. A test without it
// is skipped, or fails when FERRY_REQUIRE_PEERS=1 (as in CI).
func Wormhole(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("wormhole")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("wormhole CLI not found and FERRY_REQUIRE_PEERS=1: %v", err)
		}
		t.Skip("wormhole (magic-wormhole CLI) is not installed")
	}
	return bin
}

// HeldSender starts `wormhole send --verify` of file with code through
// the mailbox at relayURL. Python sends its version, then stops at its
// verifier prompt before its transit hints and its offer, and stays
// there: its stdin is held open. The channel gets nil once it is at that
// prompt, or an error with what it printed if it ended first. It runs
// with --no-listen (it picks its listening port by binding port 0 and
// closing it, a race with other sockets) and is killed when ctx ends or
// the test does.
func HeldSender(ctx context.Context, t testing.TB, relayURL, transit, code, file string) (*exec.Cmd, <-chan error) {
	t.Helper()
	py := exec.CommandContext(ctx, Wormhole(t), "--relay-url", relayURL, "--transit-helper", transit,
		"send", "--no-listen", "--verify", "--hide-progress", "--code", code, file)
	py.Env = append(os.Environ(), "HOME="+t.TempDir(), "PYTHONDONTWRITEBYTECODE=1")
	in, err := py.StdinPipe() // held open: the prompt waits on it
	if err != nil {
		t.Fatal(err)
	}
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); py.Process.Kill(); py.Wait() })
	prompt := make(chan error, 1)
	go func() {
		var said strings.Builder
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString(':') // the prompt ends "ok? (yes/no): ", no newline
			said.WriteString(line)
			if strings.HasSuffix(line, "ok? (yes/no):") {
				prompt <- nil
				return
			}
			if err != nil {
				prompt <- errors.New("wormhole send ended before its verifier prompt; it said:\n" + said.String())
				return
			}
		}
	}()
	return py, prompt
}
