package relay

import (
	"net"
	"testing"
	"time"
)

// TestTURNRelayToRelay: two clients of one TURN server whose peers are
// each other's relayed addresses (both behind symmetric NATs, or
// --transport relay) get permissions to the relay's own address and
// exchange datagrams, each seeing the other's relayed address as the
// source; a datagram to a port of the relay address that no allocation
// has reaches nothing (here a UDP socket of the relay host on that port).
// The relay advertises a public address (192.0.2.1, which routes nowhere
// here) and binds loopback, so the datagrams must be handed over on the
// host, not sent to the advertised address.
func TestTURNRelayToRelay(t *testing.T) {
	cfg := turnTestConfig()
	cfg.RelayIP = "192.0.2.1"
	cfg.RelayBind = "127.0.0.1"
	s := startICETest(t, cfg)
	a, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	b, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	// Both create their permission by sending first, as ICE checks do.
	for _, x := range [][2]net.PacketConn{{a, b}, {b, a}} {
		if _, err := x[0].WriteTo([]byte("hello"), x[1].LocalAddr()); err != nil {
			t.Fatalf("write from %v to %v: %v", x[0].LocalAddr(), x[1].LocalAddr(), err)
		}
	}
	got := make(chan string, 4)
	read := func(c, from net.PacketConn) {
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, src, err := c.ReadFrom(buf)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			if src.String() != from.LocalAddr().String() {
				got <- "from " + src.String() + ", want " + from.LocalAddr().String()
				return
			}
			got <- string(buf[:n])
			return
		}
	}
	go read(b, a)
	// b's permission for a may come after a's first datagram: say it again.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				a.WriteTo([]byte("hello"), b.LocalAddr())
			}
		}
	}()
	if m := <-got; m != "hello" {
		t.Fatalf("b got %q", m)
	}
	go read(a, b)
	for range 10 {
		b.WriteTo([]byte("hello"), a.LocalAddr())
		time.Sleep(20 * time.Millisecond)
	}
	if m := <-got; m != "hello" {
		t.Fatalf("a got %q", m)
	}

	// A port of the relay address with no allocation: a socket on this host
	// at that port gets nothing.
	victim := listenUDP(t, "127.0.0.1")
	port := victim.LocalAddr().(*net.UDPAddr).Port
	for range 5 {
		a.WriteTo([]byte("intrusion"), &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: port})
	}
	victim.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := victim.ReadFrom(make([]byte, 64)); err == nil {
		t.Fatalf("a host socket at 127.0.0.1:%d got %d bytes from %v through the relay address", port, n, from)
	}
}
