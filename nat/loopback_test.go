package nat

import (
	"net/netip"
	"testing"
	"time"
)

// loopbackPair connects two agents on the real network, restricted to
// 127.0.0.1, and checks that they selected a host pair over loopback.
func loopbackPair(tb testing.TB) (*Agent, *Agent, PacketConn, PacketConn) {
	tb.Helper()
	ctx := testContext(tb, 20*time.Second)
	a := newTestAgent(tb, Config{LoopbackOnly: true})
	b := newTestAgent(tb, Config{LoopbackOnly: true})
	pcA, pcB := connectAgents(tb, ctx, a, b)
	for _, pc := range []PacketConn{pcA, pcB} {
		for _, addr := range []string{pc.LocalAddr().String(), pc.RemoteAddr().String()} {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || !ap.Addr().IsLoopback() {
				tb.Fatalf("selected address %q is not loopback (%v)", addr, err)
			}
		}
	}
	for _, ag := range []*Agent{a, b} {
		if l, r := ag.SelectedPair(); l != Host || r != Host {
			tb.Fatalf("selected pair %s/%s, want host/host", l, r)
		}
	}
	return a, b, pcA, pcB
}

func TestLoopbackTransfer(t *testing.T) {
	size := int64(64 << 20)
	if testing.Short() || raceEnabled {
		size = 8 << 20
	}
	_, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	transfer(t, sA, sB, size)
}

// TestLoopbackReverse sends from the accepting side, to the dialing side.
func TestLoopbackReverse(t *testing.T) {
	_, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	transfer(t, sB, sA, 1<<20)
}

// TestCloseReleasesAgent checks that closing the stream closes the agent's
// socket: a later Connect reports the agent closed.
func TestCloseReleasesAgent(t *testing.T) {
	a, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	transfer(t, sA, sB, 1000)
	select {
	case <-a.failed:
	default:
		t.Fatal("agent still open after its stream was closed")
	}
	if _, err := pcA.WriteTo([]byte{0x40, 1, 2, 3}, nil); err == nil {
		t.Fatal("write on a closed session's PacketConn succeeded")
	}
}

// TestLoopbackOnSocket: on a host pair QUIC drives the agent's UDP socket
// itself (no ICE connection in between), in both roles, and a transfer of
// a few MiB arrives intact.
func TestLoopbackOnSocket(t *testing.T) {
	_, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	if !sA.OnSocket() || !sB.OnSocket() {
		t.Fatalf("on the socket: dialer %v, acceptor %v; want both", sA.OnSocket(), sB.OnSocket())
	}
	transfer(t, sA, sB, 4<<20)
}
