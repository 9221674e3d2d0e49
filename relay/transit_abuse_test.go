package relay

import (
	"net"
	"testing"
	"time"
)

// startFakedTransit is startTransit with every client's address mapped
// by fakeIPv6.
func startFakedTransit(t testing.TB, cfg TransitConfig) *transitRelay {
	t.Helper()
	return serveTransit(t, cfg, "ferry (IPv6)", func(ln net.Listener) net.Listener {
		return fakeAddrListener{Listener: ln, mapAddr: fakeIPv6}
	})
}

// honestPair pairs a connection from fromA with one from fromB and moves
// bytes both ways through them.
func honestPair(t *testing.T, addr, fromA, fromB string) {
	t.Helper()
	a, b := pairConns(t, dialTransitFrom(t, addr, fromA), dialTransitFrom(t, addr, fromB))
	send(t, a, "hello b")
	expectRead(t, b, "hello b")
	send(t, b, "hello a")
	expectRead(t, a, "hello a")
	a.Close()
	b.Close()
}

// waitingFrom opens n connections from ip that each wait with a fresh
// token, and returns them once the relay has read their handshakes (or
// refused them).
func waitingFrom(t *testing.T, r *transitRelay, ip string, n int) []*net.TCPConn {
	t.Helper()
	var cs []*net.TCPConn
	for range n {
		c := dialTransitFrom(t, r.addr, ip)
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(handshake(newToken(t), "aaaaaaaaaaaaaaaa"))) // may fail: refused
		cs = append(cs, c)
	}
	return cs
}

// settled waits until the relay's counts stop changing.
func settled(t *testing.T, s *TransitServer) TransitStats {
	t.Helper()
	last := s.Stats()
	for stable := 0; stable < 5; {
		time.Sleep(20 * time.Millisecond)
		if st := s.Stats(); st == last {
			stable++
		} else {
			last, stable = st, 0
		}
	}
	return last
}

// TestTransitFloodUnpaired: 8 addresses of one /24, and 8 IPv6 /64s of
// one /56, each open as many waiting connections as MaxPendingPerIP
// allows; MaxPendingPerPrefix keeps MaxPending from filling up, and an
// honest pair from elsewhere pairs.
func TestTransitFloodUnpaired(t *testing.T) {
	cfg := TransitConfig{MaxPending: 32, MaxPendingPerIP: 8, MaxPendingPerPrefix: 12}
	for _, tc := range []struct {
		r   *transitRelay
		ips []string
	}{
		{startTransit(t, cfg), loopbackIPs(10, 8, true)},
		// 127.0.N.1 is 2001:db8:0:N00::1, /64s of one /56.
		{startFakedTransit(t, cfg), []string{"127.0.10.1", "127.0.11.1", "127.0.12.1", "127.0.13.1",
			"127.0.14.1", "127.0.15.1", "127.0.16.1", "127.0.17.1"}},
	} {
		t.Run(tc.r.name, func(t *testing.T) {
			for _, ip := range tc.ips {
				waitingFrom(t, tc.r, ip, cfg.MaxPendingPerIP)
			}
			if st := settled(t, tc.r.srv); st.Pending > cfg.MaxPendingPerPrefix {
				t.Errorf("%d connections pending from one prefix, over MaxPendingPerPrefix %d", st.Pending, cfg.MaxPendingPerPrefix)
			}
			honestPair(t, tc.r.addr, "127.1.0.1", "127.2.0.1")
		})
	}
}

// TestTransitFloodIdlePairs: 17 addresses of one /24 each open idle pairs
// up to MaxConnsPerIP; MaxConnsPerPrefix keeps MaxConns from filling up,
// and an honest pair from elsewhere pairs.
func TestTransitFloodIdlePairs(t *testing.T) {
	cfg := TransitConfig{MaxConns: 40, MaxConnsPerIP: 4, MaxConnsPerPrefix: 12}
	r := startTransit(t, cfg)
	for _, ip := range loopbackIPs(10, 17, true) {
		for range cfg.MaxConnsPerIP / 2 {
			token := newToken(t)
			a, b := dialTransitFrom(t, r.addr, ip), dialTransitFrom(t, r.addr, ip)
			for _, c := range []*net.TCPConn{a, b} {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			}
			a.Write([]byte(handshake(token, "aaaaaaaaaaaaaaaa")))
			b.Write([]byte(handshake(token, "bbbbbbbbbbbbbbbb")))
		}
	}
	st := settled(t, r.srv)
	if st.Conns > cfg.MaxConnsPerPrefix {
		t.Errorf("one /24 holds %d connections, over MaxConnsPerPrefix %d", st.Conns, cfg.MaxConnsPerPrefix)
	}
	honestPair(t, r.addr, "127.1.0.1", "127.2.0.1")
}

// TestTransitEvictsIdlePairs: pairs from many networks fill MaxConns and
// sit idle; a new client gets the place of the pair idle longest once
// it has been idle for EvictIdleAfter, while a pair that moves bytes
// stays.
func TestTransitEvictsIdlePairs(t *testing.T) {
	// EvictIdleAfter must outlast setting up the ten pairs (the first
	// ones must not be idle long by the first check) on a loaded machine.
	cfg := TransitConfig{MaxConns: 20, EvictIdleAfter: 2 * time.Second}
	r := startTransit(t, cfg)
	var busyA, busyB *net.TCPConn
	for i, ip := range loopbackIPs(10, cfg.MaxConns/2, false) {
		a, b := pairConns(t, dialTransitFrom(t, r.addr, ip), dialTransitFrom(t, r.addr, ip))
		if i == 0 {
			busyA, busyB = a, b
		}
	}
	// Full: a newcomer is turned away while nothing has idled long.
	refused(t, dialTransitFrom(t, r.addr, "127.100.0.1"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			busyA.SetDeadline(time.Now().Add(5 * time.Second))
			busyB.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := busyA.Write([]byte("tick")); err != nil {
				return
			}
			if _, err := busyB.Read(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(2 * cfg.EvictIdleAfter)
	for range 3 {
		honestPair(t, r.addr, "127.101.0.1", "127.102.0.1")
	}
	close(stop)
	<-done
	busyA.SetDeadline(time.Now().Add(5 * time.Second))
	busyB.SetDeadline(time.Now().Add(5 * time.Second))
	send(t, busyA, "still here")
	expectRead(t, busyB, "still here")
	if st := r.srv.Stats(); st.Conns > cfg.MaxConns {
		t.Errorf("%d connections, over MaxConns %d", st.Conns, cfg.MaxConns)
	}
}
