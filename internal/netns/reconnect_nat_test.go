package netns_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// reconnectTimeout is --reconnect-timeout in TestReconnectNAT. With 0
// (no reconnecting: the old behaviour) every subtest fails.
const reconnectTimeout = "60s"

// TestReconnectNAT: reconnect within a run over the UDP paths, behind
// real kernel NATs. Each subtest breaks the path a quarter of the way
// through the file in the way its path breaks in the field, with an idle
// timeout of 3 s so that the path is given up; both sides must say
// "reconnecting…", find a new path of the same kind through the mailbox,
// and complete the same run, byte-identical. The path is checked from the
// receiver's summary, which names the path that carried the end of the
// file. The subtests share one build and run one after the other (they
// time ICE and a shaped link).
func TestReconnectNAT(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	t.Run("TURNKilled", func(t *testing.T) { testReconnectTURN(t, bin) })
	t.Run("ICERebind", func(t *testing.T) {
		testReconnectRebind(t, bin, "ice", "a server-reflexive ICE pair (ice srflx…)", func(p string) bool {
			return strings.HasPrefix(p, "ice ") && strings.Contains(p, "srflx") && !strings.Contains(p, "relay")
		})
	})
	t.Run("WebRTCRebind", func(t *testing.T) {
		testReconnectRebind(t, bin, "webrtc", "a server-reflexive WebRTC pair (webrtc srflx…)", func(p string) bool {
			return strings.HasPrefix(p, "webrtc ") && strings.Contains(p, "srflx") && !strings.Contains(p, "relay")
		})
	})
}

// reconnectEnv is the environment of both sides: a short idle timeout,
// reconnecting on, and no LAN mailbox (the sides meet on the relay).
func reconnectEnv(w *world) {
	w.env = append(w.env, "FERRY_IDLE_TIMEOUT=3s", "FERRY_RECONNECT_TIMEOUT="+reconnectTimeout, "FERRY_LAN=off")
}

// A killed TURN allocation: two symmetric NATs, so the only path is
// through TURN (as in testSymmetricTURN: one side's relayed candidate and
// the other's reflexive one, or both relayed candidates), served by a
// relay process of its own beside the mailbox's. Mid-transfer that
// process is SIGKILLed and started again: every allocation is gone, the
// mailbox stays. The new attempt's
// ICE agent must make a new allocation on the new server.
func testReconnectTURN(t *testing.T, bin string) {
	const size = 32 << 20
	w := newWorld(t, bin, symmetric, symmetric, servers{turn: true, turnApart: true})
	reconnectEnv(w)
	// 40 Mbit/s out of the sender's router: 32 MiB take 7 s or more.
	w.snd.Router.Exec("tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	staged := x.mustStage(t, size/4, 90*time.Second)
	w.turn.Kill() // SIGKILL: the allocations die with it
	w.turn.Stop()
	w.startTURN(t)
	t.Logf("TURN relay killed and started again, %d of %d bytes staged", staged, size)
	x.wait(t, 150*time.Second)
	x.requireSuccess(t)
	x.requireReconnected(t)
	// ICE with QUIC and a WebRTC data channel race in auto mode, and
	// either may win through TURN; ICE has so far.
	if p := x.path(t); p != "ice relay (turn)" && p != "webrtc relay (turn)" {
		t.Fatalf("path %q, want one through TURN (\"ice relay (turn)\")\n%s", p, x)
	}
}

// NAT rebinding: two port-restricted cone NATs and STUN, so the path is a
// server-reflexive pair, over ICE with QUIC (transport "ice") or a WebRTC
// data channel (transport "webrtc"). Each is pinned: in auto mode the two
// race, and either may win on these NATs. Mid-transfer the sender's
// router forgets every mapping and hands out new UDP and TCP ports
// (ChangeMapping): the peer's NAT drops what now comes from the new port,
// and the sender's mailbox connection breaks too (it is redialled). The
// new attempt gathers new candidates and punches again.
func testReconnectRebind(t *testing.T, bin, transport, want string, ok func(path string) bool) {
	const size = 40 << 20
	w := newWorld(t, bin, cone, cone, servers{transport: transport})
	reconnectEnv(w)
	// 40 Mbit/s out of the sender's router: 40 MiB take 8 s or more.
	w.snd.Router.Exec("tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	staged := x.mustStage(t, size/4, 90*time.Second)
	w.snd.ChangeMapping(true)
	t.Logf("mapping changed, %d of %d bytes staged", staged, size)
	x.wait(t, 150*time.Second)
	x.requireSuccess(t)
	x.requireReconnected(t)
	if p := x.path(t); !ok(p) {
		t.Fatalf("path %q, want %s\n%s", p, want, x)
	}
}

// requireReconnected checks that both sides said "reconnecting…": the run
// went on over a second path, not over the first one that survived.
func (x *exchange) requireReconnected(t *testing.T) {
	t.Helper()
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if !strings.Contains(p.Stderr(), "reconnecting…") {
			t.Errorf("%s did not say \"reconnecting…\"\n%s", p.Name, x)
		}
	}
	if l, ok := netns.LineWithPrefix(x.receiver.Stderr(), "Resuming "); ok {
		t.Logf("receiver: %s", l)
	}
}
