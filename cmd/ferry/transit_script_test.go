package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// withTransitCmds adds the classic-transfer commands to the script
// commands.
func withTransitCmds(cmds map[string]func(*testscript.TestScript, bool, []string)) map[string]func(*testscript.TestScript, bool, []string) {
	cmds["starttransit"] = cmdStartTransit
	return cmds
}

// starttransit [-port N]: start the reference transit relay (twist3 transitrelay) on
// loopback, wait until it listens, and point FERRY_TRANSIT at it
// (tcp:127.0.0.1:PORT, a form both ferry's --transit and the Python
// client's --transit-helper take). Its usage log, one JSON line per
// relayed connection pair with "total_bytes", goes to
// $WORK/transit-usage.log, so a script can check the relay carried a
// transfer.
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
	work := ts.Getenv("WORK")
	logf, err := os.Create(filepath.Join(work, "transit.log"))
	ts.Check(err)
	usage, err := os.Create(filepath.Join(work, "transit-usage.log"))
	ts.Check(err)
	cmd := exec.Command("twist3", "transitrelay", "--port=tcp:"+strconv.Itoa(port)+":interface=127.0.0.1", "--log-fd=3")
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, work
	cmd.ExtraFiles = []*os.File{usage}
	cmd.Env = os.Environ()
	ts.Check(cmd.Start())
	p := &relayProc{cmd: cmd}
	ts.Defer(func() { p.stop(); logf.Close(); usage.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("transit relay did not listen on %s: %v\n%s", addr, err, ts.ReadFile(logf.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Setenv("FERRY_TRANSIT", "tcp:"+addr)
}
