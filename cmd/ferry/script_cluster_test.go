package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// clusterKey is where a script keeps the nodes startcluster started.
type clusterKey struct{}

// startcluster [-transit] [-of M] N: start N `ferry relay --nats-embedded`
// nodes on loopback, clustered over their NATS routes (every node given
// every node's cluster address), each with its own --data; wait until each
// listens; RELAY1..RELAYN are their mailbox URLs and FERRY_RELAY is
// node 1's; METRICS1..N their /metrics URLs. With -transit each also runs
// a transit relay, advertised as --public-host 127.0.0.1 (TRANSIT1..N:
// tcp:127.0.0.1:PORT). With -of M the routes name M nodes, of which only
// the first N start (the others failed to).
func cmdStartCluster(ts *testscript.TestScript, neg bool, args []string) {
	usage := "usage: startcluster [-transit] [-of M] N"
	transit := false
	of := 0
	for len(args) > 1 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-transit":
			transit, args = true, args[1:]
		case args[0] == "-of" && len(args) > 2:
			m, err := strconv.Atoi(args[1])
			if err != nil || m < 1 {
				ts.Fatalf("startcluster: bad -of %q", args[1])
			}
			of, args = m, args[2:]
		default:
			ts.Fatalf("%s", usage)
		}
	}
	if len(args) != 1 {
		ts.Fatalf("%s", usage)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || of > 0 && n > of {
		ts.Fatalf("startcluster: bad node count %q", args[0])
	}
	of = max(of, n)
	listen, cluster := make([]string, of), make([]string, of)
	routes := make([]string, of)
	for i := range of {
		listen[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(ts)))
		cluster[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(ts)))
		routes[i] = "nats://" + cluster[i]
	}
	bin := lookPathIn(ts, "ferry")
	procs := make([]*relayProc, n)
	logs := make([]string, n)
	for i := range n {
		args := []string{"relay", "--listen", listen[i], "--data", filepath.Join(ts.Getenv("WORK"), fmt.Sprintf("node%d", i+1)),
			"--nats-embedded", "--nats-cluster", cluster[i], "--nats-routes", strings.Join(routes, ","),
			"--nats-name", fmt.Sprintf("node%d", i+1)}
		if transit {
			t := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(ts)))
			args = append(args, "--transit-listen", t, "--public-host", "127.0.0.1")
			ts.Setenv(fmt.Sprintf("TRANSIT%d", i+1), "tcp:"+t)
		}
		cmd := exec.Command(bin, args...)
		logs[i] = filepath.Join(ts.Getenv("WORK"), fmt.Sprintf("relay-node%d.log", i+1))
		logf, err := os.Create(logs[i])
		ts.Check(err)
		cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, ts.Getenv("WORK")
		p := startRelayProc(ts, cmd)
		ts.Defer(func() { p.stop(); logf.Close() })
		procs[i] = p
		ts.Setenv(fmt.Sprintf("RELAY%d", i+1), "ws://"+listen[i]+"/v1")
		ts.Setenv(fmt.Sprintf("METRICS%d", i+1), "http://"+listen[i]+"/metrics")
	}
	for i, p := range procs {
		waitListen(ts, p, fmt.Sprintf("relay node %d", i+1), listen[i], logs[i])
	}
	ts.Setenv("FERRY_RELAY", "ws://"+listen[0]+"/v1")
	*ts.Value(clusterKey{}).(*[]*relayProc) = procs
}

// stopnode I: stop node I (from 1) of startcluster's nodes, gracefully.
func cmdStopNode(ts *testscript.TestScript, neg bool, args []string) {
	procs := *ts.Value(clusterKey{}).(*[]*relayProc)
	if len(args) != 1 {
		ts.Fatalf("usage: stopnode I")
	}
	i, err := strconv.Atoi(args[0])
	if err != nil || i < 1 || i > len(procs) {
		ts.Fatalf("stopnode: no node %q", args[0])
	}
	procs[i-1].stop()
}

// termnode I SECONDS: send node I (from 1) of startcluster's nodes SIGTERM
// and fail unless it exits, successfully, within SECONDS (else kill it).
func cmdTermNode(ts *testscript.TestScript, neg bool, args []string) {
	procs := *ts.Value(clusterKey{}).(*[]*relayProc)
	if len(args) != 2 {
		ts.Fatalf("usage: termnode I SECONDS")
	}
	i, err := strconv.Atoi(args[0])
	if err != nil || i < 1 || i > len(procs) {
		ts.Fatalf("termnode: no node %q", args[0])
	}
	secs, err := strconv.Atoi(args[1])
	if err != nil || secs < 1 {
		ts.Fatalf("termnode: bad SECONDS %q", args[1])
	}
	p := procs[i-1]
	if p.exited() {
		ts.Fatalf("node %d had exited before the signal: %v", i, p.cmd.ProcessState)
	}
	ts.Check(p.cmd.Process.Signal(syscall.SIGTERM))
	start := time.Now()
	select {
	case <-p.done:
	case <-time.After(time.Duration(secs) * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		ts.Fatalf("node %d did not exit within %d s of SIGTERM (killed)", i, secs)
	}
	ts.Logf("node %d exited %v after SIGTERM: %v", i, time.Since(start).Round(time.Millisecond), p.cmd.ProcessState)
	if !p.cmd.ProcessState.Success() {
		ts.Fatalf("node %d exited with %v after SIGTERM", i, p.cmd.ProcessState)
	}
}

// metric URL NAME VALUE: the Prometheus text at URL has the sample NAME
// (with its labels, if any, as written there) with VALUE.
func cmdMetric(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: metric URL NAME VALUE")
	}
	resp, err := http.Get(args[0])
	ts.Check(err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	ts.Check(err)
	got := ""
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, args[1]+" "); ok {
			got = v
		}
	}
	if (got == args[2]) == neg {
		ts.Fatalf("%s at %s is %q (want %s%s)", args[1], args[0], got, map[bool]string{true: "not "}[neg], args[2])
	}
}
