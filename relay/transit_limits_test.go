package relay

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTransitConfigDefaults(t *testing.T) {
	cfg := TransitConfig{BufferBytes: 10}.withDefaults()
	if cfg.MaxConns != defaultTransitMaxConns || cfg.MaxPending != defaultTransitMaxPending ||
		cfg.PairTimeout != defaultTransitPairTimeout || cfg.IdleTimeout != defaultTransitIdleTimeout {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.BufferBytes != minTransitBufferBytes {
		t.Errorf("BufferBytes = %d, want the minimum %d", cfg.BufferBytes, minTransitBufferBytes)
	}
	if handshakeBufBytes <= maxRelayLine {
		t.Errorf("the handshake buffer (%d) must hold more than a handshake line (%d)", handshakeBufBytes, maxRelayLine)
	}
}

// wait sends a handshake with a fresh token and waits until the server
// counts want pending connections.
func waitingConn(t *testing.T, r *transitRelay, ip string, want int) net.Conn {
	t.Helper()
	c := dialTransitFrom(t, r.addr, ip)
	send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
	waitStats(t, r.srv, "the connection to wait", func(st TransitStats) bool { return st.Pending == want })
	return c
}

// refused checks that the relay closes c without a word.
func refused(t *testing.T, c net.Conn) {
	t.Helper()
	// Sending may already fail: the relay has closed the connection.
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte(handshake(newToken(t), "aaaaaaaaaaaaaaaa")))
	if got := readToEnd(t, c); got != "" {
		t.Errorf("refused connection read %q", got)
	}
}

func TestTransitConnLimits(t *testing.T) {
	r := startTransit(t, TransitConfig{MaxConnsPerIP: 2, MaxConns: 3})
	a, b := pair(t, r.addr) // two connections from 127.0.0.1, paired
	refused(t, dialTransitFrom(t, r.addr, "127.0.0.1"))
	waitingConn(t, r, "127.0.0.2", 1)
	refused(t, dialTransitFrom(t, r.addr, "127.0.0.3")) // MaxConns
	send(t, a, "x")
	expectRead(t, b, "x")
	a.Close()
	b.Close()
	waitStats(t, r.srv, "the pair to be gone", func(st TransitStats) bool { return st.Conns == 1 })
	waitingConn(t, r, "127.0.0.1", 2)
}

func TestTransitPendingLimits(t *testing.T) {
	r := startTransit(t, TransitConfig{MaxPending: 2, MaxPendingPerIP: 1, MaxPendingPerToken: 2})
	// A pair no longer counts as pending.
	a, b := dialTransitFrom(t, r.addr, "127.0.0.1"), dialTransitFrom(t, r.addr, "127.0.0.2")
	token := newToken(t)
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
	waitingConn(t, r, "127.0.0.1", 1)
	refused(t, dialTransitFrom(t, r.addr, "127.0.0.1")) // MaxPendingPerIP
	waitingConn(t, r, "127.0.0.2", 2)
	refused(t, dialTransitFrom(t, r.addr, "127.0.0.3")) // MaxPending
	if st := r.srv.Stats(); st.Pairs != 1 || st.Conns != 4 {
		t.Errorf("stats %+v, want 1 pair and 4 connections", st)
	}
}

func TestTransitSpareLimit(t *testing.T) {
	r := startTransit(t, TransitConfig{MaxPendingPerToken: 2})
	token := newToken(t)
	for i := range 2 {
		c := dialTransit(t, r.addr)
		send(t, c, handshake(token, "aaaaaaaaaaaaaaaa"))
		// Pending counts a connection from its accept on, before its
		// handshake is read: wait until it waits with the token, or the
		// next one's handshake may be read first and take its place.
		waitFor(t, "the connection to wait with the token", func() bool {
			r.srv.mu.Lock()
			defer r.srv.mu.Unlock()
			return len(r.srv.waiting[token]) == i+1
		})
	}
	c := dialTransit(t, r.addr)
	send(t, c, handshake(token, "aaaaaaaaaaaaaaaa"))
	if got := readToEnd(t, c); got != "" {
		t.Errorf("third same-side connection read %q", got)
	}
	// The server closes the refused connection before it counts it out:
	// its end is seen here before Stats says so.
	waitFor(t, "2 connections pending for 1 token once the refused one is counted out", func() bool {
		st := r.srv.Stats()
		return st.Pending == 2 && st.Waiting == 1 && st.Conns == 2
	})
}

func TestTransitTimeouts(t *testing.T) {
	r := startTransit(t, TransitConfig{
		HandshakeTimeout: 200 * time.Millisecond,
		PairTimeout:      200 * time.Millisecond,
		IdleTimeout:      200 * time.Millisecond,
	})
	t.Run("handshake", func(t *testing.T) {
		c := dialTransit(t, r.addr)
		send(t, c, "please re")
		if got := readToEnd(t, c); got != "" {
			t.Errorf("slow handshake read %q", got)
		}
	})
	t.Run("pair", func(t *testing.T) {
		c := dialTransit(t, r.addr)
		send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
		if got := readToEnd(t, c); got != "" {
			t.Errorf("lonely connection read %q", got)
		}
	})
	t.Run("idle", func(t *testing.T) {
		// its own relay: pair() under 200 ms handshake and pair timeouts
		// would fail whenever the test stalls that long before a handshake
		r := startTransit(t, TransitConfig{IdleTimeout: 200 * time.Millisecond})
		defer waitStats(t, r.srv, "the idle pair to be gone", idle)
		a, b := pair(t, r.addr)
		if got := readToEnd(t, a); got != "" {
			t.Errorf("idle a read %q", got)
		}
		if got := readToEnd(t, b); got != "" {
			t.Errorf("idle b read %q", got)
		}
	})
	waitStats(t, r.srv, "everything to be gone", idle)
}

// TestTransitTrafficKeepsPair checks that a pair that keeps moving bytes,
// in either direction, outlives IdleTimeout (and the handshake and pair
// timeouts).
func TestTransitTrafficKeepsPair(t *testing.T) {
	// Ticks every idleTimeout/20 keep the pair busy. With a 1 s timeout
	// and a tick every 200 ms the test failed once on a loaded machine
	// (the suite beside it): a stall of 800 ms left the pair idle.
	const idleTimeout = 2 * time.Second
	// The handshake's and the wait's deadlines (1 s, shorter than the 4 s
	// of traffic, long enough for pair() on a loaded machine) must not
	// outlive them.
	r := startTransit(t, TransitConfig{IdleTimeout: idleTimeout,
		HandshakeTimeout: time.Second, PairTimeout: time.Second})
	a, b := pair(t, r.addr)
	start := time.Now()
	for i := 0; time.Since(start) < 2*idleTimeout; i++ {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		send(t, from, "tick")
		expectRead(t, to, "tick")
		time.Sleep(idleTimeout / 20)
	}
	if st := r.srv.Stats(); st.Pairs != 1 {
		t.Errorf("stats %+v, want the pair alive", st)
	}
}

func TestTransitShutdown(t *testing.T) {
	r := startTransit(t, TransitConfig{})
	a, b := pair(t, r.addr)
	lonely := dialTransit(t, r.addr)
	send(t, lonely, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
	silent := dialTransit(t, r.addr)
	waitStats(t, r.srv, "four connections", func(st TransitStats) bool { return st.Conns == 4 && st.Pending == 2 })
	if err := r.stop(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	// Serve has returned: every connection is closed and forgotten.
	if st := r.srv.Stats(); !idle(st) {
		t.Errorf("after Serve returned: %+v", st)
	}
	for _, c := range []net.Conn{a, b, lonely, silent} {
		if got := readToEnd(t, c); got != "" {
			t.Errorf("read %q after shutdown", got)
		}
	}
	if c, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("the listener still accepts after shutdown")
	}
}

func TestTransitListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := NewTransit(TransitConfig{}).Serve(t.Context(), ln); err == nil {
		t.Errorf("Serve on a closed listener returned nil")
	}
}

// failingListener accepts n connections, then fails for good.
type failingListener struct {
	net.Listener
	n int
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n == 0 {
		return nil, errors.New("listener broke")
	}
	l.n--
	return l.Listener.Accept()
}

// TestTransitListenerFailsWithConns checks that when accepting fails,
// Serve closes the connections it has and returns the error.
func TestTransitListenerFailsWithConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewTransit(TransitConfig{})
	c := dialTransit(t, ln.Addr().String())
	send(t, c, handshake(newToken(t), "aaaaaaaaaaaaaaaa"))
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context(), &failingListener{Listener: ln, n: 1}) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listener broke") {
			t.Errorf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener failed")
	}
	if got := readToEnd(t, c); got != "" {
		t.Errorf("read %q", got)
	}
	if st := s.Stats(); !idle(st) {
		t.Errorf("after Serve returned: %+v", st)
	}
}
