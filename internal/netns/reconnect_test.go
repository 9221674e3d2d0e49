package netns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// TestReconnectAfterDrop: reconnect within a run. Two public hosts and a
// relay; the sender's link is held to 40 Mbit/s so that 64 MiB take
// about 13 s. A quarter of the way through, every packet between the
// peers is dropped (iptables, both directions, on the sender's host) for
// 10 s, then let through again; the mailbox on the relay stays
// reachable. The idle timeout is 3 s, so the path is given up during the
// drop (without reconnecting, both sides would fail: the old behaviour);
// both sides say "reconnecting…", find a new path through the mailbox
// once packets flow, and the same run completes, byte-identical.
func TestReconnectAfterDrop(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	const size = 64 << 20
	w := newWorld(t, bin, public, public, servers{transport: "tcp"})
	w.env = append(w.env, "FERRY_IDLE_TIMEOUT=3s", "FERRY_RECONNECT_TIMEOUT=60s")
	w.snd.Exec("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	staged := x.mustStage(t, size/4, 60*time.Second)
	rules := [][]string{{"INPUT", "-s", w.rcv.Addr, "-j", "DROP"}, {"OUTPUT", "-d", w.rcv.Addr, "-j", "DROP"}}
	for _, r := range rules {
		w.snd.Exec(append([]string{"iptables", "-I"}, r...)...)
	}
	t.Logf("dropping every packet between the peers, %d of %d bytes staged", staged, size)
	time.Sleep(10 * time.Second)
	for _, r := range rules {
		w.snd.Exec(append([]string{"iptables", "-D"}, r...)...)
	}
	during, _ := stagedBytes(x.out)
	t.Logf("packets flow again, %d bytes staged", during)
	x.wait(t, 120*time.Second)
	x.requireSuccess(t)
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if !strings.Contains(p.Stderr(), "reconnecting…") {
			t.Errorf("%s did not say \"reconnecting…\"\n%s", p.Name, x)
		}
	}
	if l, ok := netns.LineWithPrefix(x.receiver.Stderr(), "Resuming "); ok {
		t.Logf("receiver: %s", l)
	}
}
