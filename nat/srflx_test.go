package nat

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// newTestCandidateConn opens a server-reflexive candidate's socket on
// loopback as the agent's network hands it to ice.
func newTestCandidateConn(t *testing.T) (*candidateConn, *srflxSockets) {
	t.Helper()
	std, _, err := openSocket(&Config{LoopbackOnly: true}, orDiscard(nil))
	if err != nil {
		t.Fatal(err)
	}
	sockets := &srflxSockets{}
	c, err := srflxNet{Net: std, sockets: sockets}.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	cc, ok := c.(*candidateConn)
	if !ok {
		t.Fatalf("ListenUDP on port 0 gave a %T, want a *candidateConn", c)
	}
	return cc, sockets
}

// TestCandidateConnDeadlines: the STUN transaction that learns a
// server-reflexive address relies on read deadlines, which the shared
// socket's non-QUIC reads emulate: an expired deadline fails the read, a
// deadline moved to now unblocks a blocked one, and STUN-like datagrams
// (first two bits zero) arrive while QUIC-looking ones do not.
func TestCandidateConnDeadlines(t *testing.T) {
	c, sockets := newTestCandidateConn(t)
	port := c.LocalAddr().(*net.UDPAddr).Port
	if sockets.lookup(port) != c.s {
		t.Fatalf("socket on port %d not registered", port)
	}
	buf := make([]byte, 64)
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(buf)
		readErr <- err
	}()
	select {
	case err := <-readErr:
		t.Fatalf("read without a deadline returned %v before any datagram", err)
	case <-time.After(50 * time.Millisecond): // most likely blocked by now; if not, it times out all the same
	}
	if err := c.SetDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blocked read after SetDeadline(now): %v, want a timeout", err)
	}

	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte{0x40, 'q', 'u', 'i', 'c'}, c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteTo([]byte{0x00, 0x01, 's', 't', 'u', 'n'}, c.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, from, err := c.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "\x00\x01stun" || !sameUDPAddr(from, peer.LocalAddr()) {
		t.Fatalf("read %q from %v (%v), want the STUN-like datagram from %v", buf[:n], from, err, peer.LocalAddr())
	}
	if _, err := c.WriteTo([]byte{0x00, 0x01, 'o', 'k'}, peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _, err := peer.ReadFrom(buf); err != nil || string(buf[:n]) != "\x00\x01ok" {
		t.Fatalf("peer read %q (%v), want the datagram written through the transport", buf[:n], err)
	}
	_ = c.Close()
	if sockets.lookup(port) != nil {
		t.Fatal("closed socket still registered")
	}
}
