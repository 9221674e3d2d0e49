package relay

import (
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// honestTURN allocates a relay from fromIP and moves a datagram each way
// between it and a peer on peerIP.
func honestTURN(t *testing.T, s *ICEServer, fromIP, peerIP string) {
	t.Helper()
	relay, err := allocate(t, s.TURNAddr(), fromIP, "alice", "wonderland")
	if err != nil {
		t.Fatalf("honest allocation from %s: %v", fromIP, err)
	}
	peer := listenUDP(t, peerIP)
	if _, err := relay.WriteTo([]byte("hello peer"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay WriteTo: %v", err)
	}
	if got, _ := readWithin(t, peer, 5*time.Second); string(got) != "hello peer" {
		t.Errorf("peer got %q", got)
	}
	if _, err := peer.WriteTo([]byte("hello client"), relay.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if got, _ := readWithin(t, relay, 5*time.Second); string(got) != "hello client" {
		t.Errorf("client got %q", got)
	}
}

// TestTURNAllocationFloodPrefix: 8 addresses of one /24 allocate what
// MaxAllocationsPerIP allows; MaxAllocationsPerPrefix keeps
// MaxAllocations from filling up, and an honest client from elsewhere
// relays.
func TestTURNAllocationFloodPrefix(t *testing.T) {
	cfg := turnTestConfig()
	cfg.MaxAllocations, cfg.MaxAllocationsPerIP, cfg.MaxAllocationsPerPrefix = 16, 2, 6
	s := startICETest(t, cfg)
	got := 0
	for _, ip := range loopbackIPs(10, 8, true) {
		for range cfg.MaxAllocationsPerIP {
			_, err := allocate(t, s.TURNAddr(), ip, "alice", "wonderland")
			switch {
			case err == nil:
				got++
			case turnErrorCode(err) != stun.CodeAllocQuotaReached:
				t.Fatalf("allocation from %s: %v", ip, err)
			}
		}
	}
	if got != cfg.MaxAllocationsPerPrefix {
		t.Errorf("one /24 got %d allocations, want MaxAllocationsPerPrefix %d", got, cfg.MaxAllocationsPerPrefix)
	}
	honestTURN(t, s, "127.0.1.1", "127.0.1.2")
}

// TestTURNIdleAllocationsFreed: allocations from many networks fill
// MaxAllocations and relay nothing; they are closed after
// AllocationIdleTimeout (not the 10-minute allocation lifetime), so new
// clients get in, while an allocation that relays stays.
func TestTURNIdleAllocationsFreed(t *testing.T) {
	cfg := turnTestConfig()
	// The busy allocation relays between the others' allocations too, and
	// the timeout leaves room for a loaded machine: with 500 ms and no
	// traffic while the others were set up, the busy one could idle out.
	cfg.MaxAllocations, cfg.AllocationIdleTimeout = 8, 2*time.Second
	s := startICETest(t, cfg)
	busy, err := allocate(t, s.TURNAddr(), "127.9.0.1", "alice", "wonderland")
	if err != nil {
		t.Fatal(err)
	}
	peer := listenUDP(t, "127.9.0.2")
	for _, ip := range loopbackIPs(10, cfg.MaxAllocations-1, false) {
		if _, err := busy.WriteTo([]byte("tick"), peer.LocalAddr()); err != nil {
			t.Fatalf("busy relay: %v", err)
		}
		readWithin(t, peer, 5*time.Second)
		if _, err := allocate(t, s.TURNAddr(), ip, "alice", "wonderland"); err != nil {
			t.Fatalf("allocation from %s: %v", ip, err)
		}
	}
	if _, err := allocate(t, s.TURNAddr(), "127.100.0.1", "alice", "wonderland"); turnErrorCode(err) != stun.CodeAllocQuotaReached {
		t.Fatalf("allocation beyond MaxAllocations: %v, want 486", err)
	}
	// The busy one relays every 100ms meanwhile.
	deadline := time.Now().Add(10 * time.Second)
	for s.relays.count() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d relay sockets still open after 10s", s.relays.count())
		}
		if _, err := busy.WriteTo([]byte("tick"), peer.LocalAddr()); err != nil {
			t.Fatalf("busy relay: %v", err)
		}
		readWithin(t, peer, 5*time.Second)
		time.Sleep(100 * time.Millisecond)
	}
	waitFor(t, "the idle allocations to be uncounted", func() bool {
		s.quota.mu.Lock()
		defer s.quota.mu.Unlock()
		return s.quota.all == 1
	})
	honestTURN(t, s, "127.100.0.1", "127.100.0.2")
	if _, err := busy.WriteTo([]byte("still"), peer.LocalAddr()); err != nil {
		t.Fatalf("busy relay after the others were freed: %v", err)
	}
	if got, _ := readWithin(t, peer, 5*time.Second); string(got) != "still" {
		t.Errorf("peer got %q", got)
	}
}

// TestTURNQuotaPrefixes: the allocation quota counts IPv6 clients per /64
// and per /48 (256 /64s of a /56 are one client network), IPv4 ones per
// address and per /24.
func TestTURNQuotaPrefixes(t *testing.T) {
	q := &iceQuota{perIP: 2, perPrefix: 5, total: 100, n: newTally(), log: slog.New(slog.DiscardHandler)}
	try := func(addrs []string) int {
		got := 0
		for _, a := range addrs {
			src, err := net.ResolveUDPAddr("udp", a)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if q.allow("u", "r", src) {
					q.created(src)
					got++
				}
			}
		}
		return got
	}
	var v6, v4 []string
	for i := range 256 {
		v6 = append(v6, fmt.Sprintf("[2001:db8:0:ff%02x::1]:5000", i))
		v4 = append(v4, fmt.Sprintf("192.0.2.%d:5000", i))
	}
	if got := try(v6); got != 5 {
		t.Errorf("256 IPv6 /64s of one /56 got %d allocations, want 5", got)
	}
	if got := try(v4[:255]); got != 5 {
		t.Errorf("255 addresses of one IPv4 /24 got %d allocations, want 5", got)
	}
	if got := try([]string{"[2001:db8:1::1]:5000", "198.51.100.1:5000"}); got != 4 {
		t.Errorf("clients of other networks got %d allocations, want 4", got)
	}
	src, _ := net.ResolveUDPAddr("udp", v6[0])
	q.deleted(src)
	if !q.allow("u", "r", src) {
		t.Error("a freed allocation was not available again")
	}
}
