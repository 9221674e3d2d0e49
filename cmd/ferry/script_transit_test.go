package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// startReferenceTransit starts Debian's magic-wormhole-transit-relay
// (`twist3 transitrelay`) on addr, logging to relay-transit.log, and waits
// until it listens. The caller stops it.
func startReferenceTransit(ts *testscript.TestScript, addr string) *relayProc {
	_, port, err := net.SplitHostPort(addr)
	ts.Check(err)
	logf, err := os.Create(filepath.Join(ts.Getenv("WORK"), "relay-transit.log"))
	ts.Check(err)
	cmd := exec.Command("twist3", "transitrelay", "--port", fmt.Sprintf("tcp:%s:interface=127.0.0.1", port))
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, ts.Getenv("WORK")
	cmd.Env = os.Environ()
	ts.Check(cmd.Start())
	p := &relayProc{cmd: cmd}
	ts.Defer(func() { p.stop(); logf.Close() })
	// It logs this once it listens. (A probe connection would do, but the
	// reference relay logs a traceback for a connection that closes
	// without a handshake.)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(ts.ReadFile(logf.Name()), "Starting factory") {
		if time.Now().After(deadline) {
			ts.Fatalf("the reference transit relay did not start:\n%s", ts.ReadFile(logf.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// waitListen waits (up to 20 s) until something accepts TCP connections
// on addr; if nothing does, it fails showing the log in logName.
func waitListen(ts *testscript.TestScript, what, addr, logName string) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not listen on %s: %v\n%s", what, addr, err, ts.ReadFile(logName))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
