package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// startReferenceTransit starts Debian's magic-wormhole-transit-relay
// (`twist3 transitrelay`) on addr and waits until it listens. It logs to
// relay-transit.log, and its usage log, one JSON line per relayed pair with
// "total_bytes", goes to transit-usage.log, so a script can check that the
// relay carried a transfer. The caller stops it.
func startReferenceTransit(ts *testscript.TestScript, addr string) *relayProc {
	_, port, err := net.SplitHostPort(addr)
	ts.Check(err)
	work := ts.Getenv("WORK")
	logf, err := os.Create(filepath.Join(work, "relay-transit.log"))
	ts.Check(err)
	usage, err := os.Create(filepath.Join(work, "transit-usage.log"))
	ts.Check(err)
	cmd := exec.Command("twist3", "transitrelay", "--port", fmt.Sprintf("tcp:%s:interface=127.0.0.1", port), "--log-fd=3")
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, work
	cmd.ExtraFiles = []*os.File{usage}
	p := startRelayProc(ts, cmd)
	ts.Defer(func() { p.stop(); logf.Close(); usage.Close() })
	// It logs this once it listens. (A probe connection would do, but the
	// reference relay logs a traceback for a connection that closes
	// without a handshake.)
	deadline := time.Now().Add(relayStartWithin)
	for !strings.Contains(ts.ReadFile(logf.Name()), "Starting factory") {
		if time.Now().After(deadline) || p.exited() {
			ts.Fatalf("the reference transit relay did not start:\n%s", ts.ReadFile(logf.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// relayStartWithin bounds a relay's start-up. The Python relays start in
// about half a second here, but in seconds more while the whole suite
// loads both cores; a relay that exits fails at once.
const relayStartWithin = 60 * time.Second

// waitListen waits until p accepts TCP connections on addr; if it exits
// first, or nothing listens within relayStartWithin, it fails showing the
// log in logName.
func waitListen(ts *testscript.TestScript, p *relayProc, what, addr, logName string) {
	deadline := time.Now().Add(relayStartWithin)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if p.exited() {
			ts.Fatalf("%s exited before it listened on %s:\n%s", what, addr, ts.ReadFile(logName))
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not listen on %s within %s: %v\n%s", what, addr, relayStartWithin, err, ts.ReadFile(logName))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// starttransit [-port N]: start the reference transit relay alone (see
// startReferenceTransit) on loopback and point FERRY_TRANSIT at it
// (tcp:127.0.0.1:PORT, a form both ferry's --transit and the Python
// client's --transit-helper take).
func cmdStartTransit(ts *testscript.TestScript, neg bool, args []string) {
	port := 0
	if len(args) == 2 && args[0] == "-port" {
		p, err := strconv.Atoi(args[1])
		ts.Check(err)
		port, args = p, nil
	}
	if len(args) != 0 {
		ts.Fatalf("usage: starttransit [-port N]")
	}
	if port == 0 {
		port = freePort(ts)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	startReferenceTransit(ts, addr)
	ts.Setenv("FERRY_TRANSIT", "tcp:"+addr)
}
