package netns_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
	"github.com/ferrydrop/ferry/internal/transit"
)

// TestStripeLosesConnection: striping over direct TCP. Two public hosts;
// the sender's link is held to 40 Mbit/s so that 64 MiB take about 13 s,
// and the stream is striped over four TCP connections (FERRY_STRIPES=4). A
// quarter of the way through, one of them becomes a black hole (iptables
// drops its packets both ways, the others flow): the stripes give it up
// and send its pieces in flight again on the other three, and the same
// run, with no reconnect (FERRY_RECONNECT_TIMEOUT=0 would fail it), ends
// byte-identical.
func TestStripeLosesConnection(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	const size = 64 << 20
	w := newWorld(t, bin, public, public, servers{transport: "tcp"})
	w.env = append(w.env, "FERRY_RECONNECT_TIMEOUT=0", "FERRY_LAN=off", "FERRY_STRIPES=4")
	w.snd.Exec("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	x.mustStage(t, size/4, 60*time.Second)
	// The sender's connections to the receiver: "LOCAL:PORT PEER:PORT".
	var conns [][2]string
	for _, line := range strings.Split(strings.TrimSpace(w.snd.Exec("ss", "-Htn", "state", "established", "dst", w.rcv.Addr)), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 {
			conns = append(conns, [2]string{f[len(f)-2], f[len(f)-1]})
		}
	}
	if len(conns) != 4 {
		x.stop()
		t.Fatalf("the sender has %d connections to the receiver, want the 4 stripes: %q\n%s", len(conns), conns, x)
	}
	local, peer := portOf(conns[1][0]), portOf(conns[1][1])
	w.snd.Exec("iptables", "-I", "OUTPUT", "-p", "tcp", "-d", w.rcv.Addr, "--sport", local, "--dport", peer, "-j", "DROP")
	w.snd.Exec("iptables", "-I", "INPUT", "-p", "tcp", "-s", w.rcv.Addr, "--sport", peer, "--dport", local, "-j", "DROP")
	staged, _ := stagedBytes(x.out)
	t.Logf("black-holed the stripe %s → %s with %d of %d bytes staged", conns[1][0], conns[1][1], staged, size)
	x.wait(t, 120*time.Second)
	x.requireSuccess(t)
	if p := x.path(t); p != "direct tcp ×4" {
		t.Errorf("path %q, want direct tcp ×4", p)
	}
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if strings.Contains(p.Stderr(), "reconnecting") {
			t.Errorf("%s reconnected: the other stripes should have carried the stream\n%s", p.Name, x)
		}
	}
}

// portOf is the port of "ADDR:PORT" (ss prints IPv6 as [ADDR]:PORT).
func portOf(hostport string) string { return hostport[strings.LastIndex(hostport, ":")+1:] }

// TestStripesAuto: with the default --stripes auto, a sender whose kernel
// gives its connections BBR (transit.CongestionControl) carries the stream
// over one connection, and one whose kernel does not over
// transfer.DefaultStripes (4): what this kernel grants decides which of
// the two the run must show. (The sender used to offer 4 whatever its
// kernel gave it.)
func TestStripesAuto(t *testing.T) {
	netns.Check(t)
	ln, err := transit.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cc := ln.CongestionControl()
	ln.Close()
	want := "direct tcp ×4"
	if cc == transit.CongestionControl {
		want = "direct tcp"
	}
	t.Logf("this kernel gives ferry's connections %q: want %q", cc, want)
	bin := buildFerry(t)
	w := newWorld(t, bin, public, public, servers{transport: "tcp"})
	w.env = append(w.env, "FERRY_RECONNECT_TIMEOUT=0", "FERRY_LAN=off")
	x := w.start(t, 1<<20)
	x.wait(t, 60*time.Second)
	x.requireSuccess(t)
	if p := x.path(t); p != want {
		t.Errorf("path %q, want %q", p, want)
	}
}
