//go:build linux

package transit

import (
	"context"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestCongestionControl: setCongestion changes a socket's congestion
// control (to reno, which every kernel has, away from the default), and
// the connections a race makes, dialed and accepted, use BBR where the
// kernel offers it to this process.
func TestCongestionControl(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error { return setCongestion(c, "reno") }}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := congestionOf(ln.(*net.TCPListener)); got != "reno" {
		t.Fatalf("setCongestion(reno) left %q", got)
	}

	avail, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	if err != nil || !strings.Contains(string(avail), CongestionControl) {
		t.Skipf("the kernel has no %s (%q, %v)", CongestionControl, avail, err)
	}
	allowed, _ := os.ReadFile("/proc/sys/net/ipv4/tcp_allowed_congestion_control")
	if os.Geteuid() != 0 && !strings.Contains(string(allowed), CongestionControl) {
		t.Skipf("%s is not allowed for this process (%q)", CongestionControl, allowed)
	}
	ln2, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	if got := ln2.CongestionControl(); got != CongestionControl {
		t.Errorf("a listener's CongestionControl() = %q, want %s", got, CongestionControl)
	}
	sender, receiver := racePair(t)
	for name, c := range map[string]net.Conn{"sender": sender, "receiver": receiver} {
		if cc := congestionOf(c.(*net.TCPConn)); cc != CongestionControl {
			t.Errorf("%s's connection uses %q, want %s", name, cc, CongestionControl)
		}
	}
}

// racePair races a sender and a receiver on loopback and returns their
// connections.
func racePair(t *testing.T) (sender, receiver net.Conn) {
	t.Helper()
	ctx := context.Background()
	ln, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	key := make([]byte, 32)
	type result struct {
		c   net.Conn
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := Connect(ctx, Config{Key: key, Role: Receiver, Listener: ln})
		got <- result{c, err}
	}()
	s, err := Connect(ctx, Config{Key: key, Role: Sender, Peer: ln.Hints()})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { s.Close(); r.c.Close() })
	return s, r.c
}
