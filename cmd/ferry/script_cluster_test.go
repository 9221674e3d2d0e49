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

	"github.com/rogpeppe/go-internal/testscript"
)

// clusterKey is where a script keeps the nodes startcluster started.
type clusterKey struct{}

// startcluster [-transit] N: start N `ferry relay --nats-embedded` nodes on
// loopback, clustered over their NATS routes (every node given every
// node's cluster address), each with its own --data; wait until each
// listens; RELAY1..RELAYN are their mailbox URLs and FERRY_RELAY is
// node 1's; METRICS1..N their /metrics URLs. With -transit each also runs
// a transit relay, advertised as --public-host 127.0.0.1 (TRANSIT1..N:
// tcp:127.0.0.1:PORT).
func cmdStartCluster(ts *testscript.TestScript, neg bool, args []string) {
	transit := len(args) == 2 && args[0] == "-transit"
	if transit {
		args = args[1:]
	}
	if len(args) != 1 {
		ts.Fatalf("usage: startcluster [-transit] N")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 {
		ts.Fatalf("startcluster: bad node count %q", args[0])
	}
	listen, cluster := make([]string, n), make([]string, n)
	routes := make([]string, n)
	for i := range n {
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
