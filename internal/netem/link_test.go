package netem_test

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netem"
	"github.com/ferrydrop/ferry/internal/netns"
)

// emulate starts l between two new namespaces; t.Cleanup stops it.
func emulate(t testing.TB, l netem.Link) (e *netem.Emulated, a, b string) {
	t.Helper()
	netns.Check(t)
	lab := netns.New(t)
	na, nm, nb := lab.NS("a"), lab.NS("m"), lab.NS("b")
	e, err := l.Start(context.Background(), na.Name, nm.Name, nb.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("delay line: %v", err)
		}
	})
	return e, na.Name, nb.Name
}

// in runs f inside namespace ns, failing t if it fails.
func in(t testing.TB, ns string, f func() error) {
	t.Helper()
	if err := netem.InNS(ns, f); err != nil {
		t.Fatal(err)
	}
}

// udpPair returns a UDP socket on each end of e.
func udpPair(t testing.TB, e *netem.Emulated, a, b string) (ca, cb *net.UDPConn) {
	t.Helper()
	in(t, b, func() (err error) { cb, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(e.B)}); return err })
	t.Cleanup(func() { cb.Close() })
	in(t, a, func() (err error) { ca, err = net.DialUDP("udp4", nil, cb.LocalAddr().(*net.UDPAddr)); return err })
	t.Cleanup(func() { ca.Close() })
	return ca, cb
}

// TestLinkRTT pings through a 60 ms link, one ping after the other: no
// round trip may be shorter than 60 ms, and the median must be within
// 10% (plus 5 ms for a loaded machine) of it.
func TestLinkRTT(t *testing.T) {
	const rtt = 60 * time.Millisecond
	e, a, b := emulate(t, netem.Link{RTT: rtt})
	ca, cb := udpPair(t, e, a, b)
	go func() { // echo
		buf := make([]byte, 2048)
		for {
			n, from, err := cb.ReadFromUDP(buf)
			if err != nil {
				return
			}
			cb.WriteToUDP(buf[:n], from)
		}
	}()
	var rtts []time.Duration
	buf := make([]byte, 2048)
	for i := range 20 {
		sent := time.Now()
		if _, err := ca.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		ca.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			n, err := ca.Read(buf)
			if err != nil {
				t.Fatalf("ping %d: %v", i, err)
			}
			if n == 1 && buf[0] == byte(i) {
				break
			}
		}
		rtts = append(rtts, time.Since(sent))
	}
	slices.Sort(rtts)
	med := rtts[len(rtts)/2]
	t.Logf("RTT %v: min %v, median %v, max %v", rtt, rtts[0], med, rtts[len(rtts)-1])
	if rtts[0] < rtt {
		t.Errorf("a round trip took %v, less than the link's %v", rtts[0], rtt)
	}
	if limit := rtt + rtt/10 + 5*time.Millisecond; med > limit {
		t.Errorf("median round trip %v, want at most %v", med, limit)
	}
}

// TestLinkLoss sends 2,000 UDP packets one way through a link that loses
// 10%: between 5% and 15% must not arrive.
func TestLinkLoss(t *testing.T) {
	const n = 2000
	e, a, b := emulate(t, netem.Link{Loss: 0.1})
	ca, cb := udpPair(t, e, a, b)
	got := make(chan int)
	go func() {
		count, buf := 0, make([]byte, 2048)
		for {
			cb.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := cb.Read(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	for i := range n {
		if _, err := ca.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // stay far below any queue's limit
			time.Sleep(time.Millisecond)
		}
	}
	arrived := <-got
	lost := n - arrived
	t.Logf("%d of %d lost; delay line %+v", lost, n, e.Line.Stats())
	if lost < n*5/100 || lost > n*15/100 {
		t.Errorf("%d of %d packets lost, want between 5%% and 15%%", lost, n)
	}
	if s := e.Line.Stats(); s.Overflow != 0 {
		t.Errorf("the delay line overflowed: %+v", s)
	}
}

// tcpStream sends size bytes from a to b over TCP and returns how long
// the receiver took from its first byte to its last.
func tcpStream(t testing.TB, e *netem.Emulated, a, b string, size int64) time.Duration {
	t.Helper()
	var ln net.Listener
	in(t, b, func() (err error) { ln, err = net.Listen("tcp4", e.B+":0"); return err })
	defer ln.Close()
	var c net.Conn
	in(t, a, func() (err error) { c, err = net.DialTimeout("tcp4", ln.Addr().String(), 10*time.Second); return err })
	defer c.Close()
	go func() {
		chunk := make([]byte, 64<<10)
		for left := size; left > 0; left -= int64(len(chunk)) {
			if _, err := c.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
				return
			}
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(60 * time.Second))
	first := make([]byte, 1)
	if _, err := io.ReadFull(s, first); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := io.Copy(io.Discard, s)
	took := time.Since(start)
	if err != nil || n != size-1 {
		t.Fatalf("received %d of %d bytes: %v", n+1, size, err)
	}
	return took
}

// TestLinkRate sends 5 MB over TCP through a 20 Mbit/s, 10 ms link: it
// must take no less than the rate allows (10% margin for the bucket and
// timing) and reach at least a third of it.
func TestLinkRate(t *testing.T) {
	const rate, size = 20e6, 5e6
	e, a, b := emulate(t, netem.Link{RTT: 10 * time.Millisecond, Rate: rate})
	took := tcpStream(t, e, a, b, size)
	got := size * 8 / took.Seconds()
	t.Logf("%.0f bytes in %v: %.1f Mbit/s through a %.0f Mbit/s link", float64(size), took, got/1e6, rate/1e6)
	if got > rate*1.1 {
		t.Errorf("%.1f Mbit/s through a %.0f Mbit/s link", got/1e6, rate/1e6)
	}
	if got < rate/3 {
		t.Errorf("only %.1f Mbit/s through a %.0f Mbit/s link", got/1e6, rate/1e6)
	}
}

// BenchmarkCeiling streams TCP through a link with no delay, loss or rate
// limit, so the delay line itself is the limit: its MB/s is the
// emulator's ceiling on this machine.
func BenchmarkCeiling(b *testing.B) {
	e, na, nb := emulate(b, netem.Link{})
	const size = 256 << 20
	b.SetBytes(size)
	for b.Loop() {
		tcpStream(b, e, na, nb, size)
	}
	b.Logf("delay line %+v", e.Line.Stats())
}
