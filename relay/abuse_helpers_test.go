package relay

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Flood tests act as clients from many addresses. IPv4 ones are real
// source addresses: Linux accepts all of 127.0.0.0/8 on loopback, so
// 127.0.N.x are hosts of one /24 and 127.N.0.1 hosts of different /24s.
// IPv6 loopback is one address, so IPv6 clients are faked: the test
// front end of startFakedServer takes the remote address from a header
// only tests send, and fakeAddrListener maps each loopback source address
// to an IPv6 one.

// fakeRemoteHeader carries the remote address a test client pretends to
// have.
const fakeRemoteHeader = "X-Test-Remote-Addr"

// startFakedServer is startServer behind a front end that sets a
// request's remote address from fakeRemoteHeader when present.
func startFakedServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	return startFrontedServer(t, cfg, 0)
}

// startSmallBufServer is startFakedServer with the server's socket send
// buffers set to sndBuf bytes (no autotuning up to megabytes), so that
// the frames for a client that does not read pile up in the relay's
// queues after a few kilobytes rather than a few megabytes.
func startSmallBufServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	return startFrontedServer(t, cfg, 8<<10)
}

func startFrontedServer(t testing.TB, cfg Config, sndBuf int) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get(fakeRemoteHeader); a != "" {
			r.RemoteAddr = net.JoinHostPort(a, "40000")
		}
		s.ServeHTTP(w, r)
	}))
	if sndBuf > 0 {
		ts.Config.ConnState = func(c net.Conn, st http.ConnState) {
			if tc, ok := c.(*net.TCPConn); ok && st == http.StateNew {
				tc.SetWriteBuffer(sndBuf)
			}
		}
	}
	ts.Start()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ts.Close()
	})
	return s, "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
}

// dialOpts say how a test client connects.
type dialOpts struct {
	from    string // source address: 127.x.y.z for real, an IPv6 one faked
	rcvBuf  int    // if > 0, the socket's receive buffer (before connecting)
	noClean bool   // do not close it at the end of the test
}

// tryDial connects a client as o says; it returns the HTTP status of a
// refusal (0 for other errors).
func tryDial(t testing.TB, url string, o dialOpts) (*wsClient, int, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	hdr := http.Header{}
	if a, err := netip.ParseAddr(o.from); err == nil && a.Is6() {
		hdr.Set(fakeRemoteHeader, o.from)
	} else if o.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.from)}
	}
	if o.rcvBuf > 0 {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, o.rcvBuf)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: hdr})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	ws.SetReadLimit(4 << 20)
	c := &wsClient{t: t, ws: ws}
	if !o.noClean {
		t.Cleanup(func() { ws.CloseNow() })
	}
	if _, err := c.readErr(); err != nil {
		return nil, 0, fmt.Errorf("welcome: %w", err)
	}
	return c, 0, nil
}

// dialAs connects a client from address from, or fails the test.
func dialAs(t testing.TB, url, from string) *wsClient {
	t.Helper()
	c, _, err := tryDial(t, url, dialOpts{from: from})
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	return c
}

// honestTransfer runs what a sender and a receiver do on the mailbox, from
// addresses fromA and fromB: A allocates a nameplate, claims it and opens
// its mailbox, B claims it too; they exchange messages both ways,
// release and close. It fails the test if any step is refused.
func honestTransfer(t testing.TB, url, fromA, fromB string) {
	t.Helper()
	a := dialAs(t, url, fromA)
	a.bind(testApp, "honest-a")
	np := a.request("allocated", "allocate")["nameplate"].(string)
	mbox := a.request("claimed", "claim", "nameplate", np)["mailbox"].(string)
	a.command("open", "mailbox", mbox)
	a.command("add", "phase", "pake", "body", "a1")
	a.expectMessage("honest-a", "pake", "a1")

	b := dialAs(t, url, fromB)
	b.bind(testApp, "honest-b")
	if got := b.request("claimed", "claim", "nameplate", np)["mailbox"]; got != mbox {
		t.Fatalf("receiver claimed mailbox %v, sender %v", got, mbox)
	}
	b.command("open", "mailbox", mbox)
	b.expectMessage("honest-a", "pake", "a1")
	b.command("add", "phase", "pake", "body", "b1")
	b.expectMessage("honest-b", "pake", "b1")
	a.expectMessage("honest-b", "pake", "b1")
	body := strings.Repeat("0f", 2<<10) // an encrypted offer, say
	a.command("add", "phase", "0", "body", body)
	a.expectMessage("honest-a", "0", body)
	b.expectMessage("honest-a", "0", body)
	a.request("released", "release")
	b.request("released", "release")
	a.request("closed", "close", "mood", "happy")
	b.request("closed", "close", "mood", "happy")
	a.close()
	b.close()
}

// fakeIPv6 maps a loopback source address 127.a.b.c to 2001:db8:a:b00::c:
// all of 127.a.0.0/16 lands in one IPv6 /48, each 127.a.b.0/24 in its own
// /64 of it (so 127.0.b.x for 256 values of b are the /64s of one /56).
func fakeIPv6(a net.Addr) net.Addr {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.To4() == nil {
		return a
	}
	ip4 := ta.IP.To4()
	ip := netip.MustParseAddr(fmt.Sprintf("2001:db8:%x:%x00::%x", ip4[1], ip4[2], ip4[3]))
	return &net.TCPAddr{IP: ip.AsSlice(), Port: ta.Port}
}

// fakeAddrListener hands out connections whose RemoteAddr is mapped.
type fakeAddrListener struct {
	net.Listener
	mapAddr func(net.Addr) net.Addr
}

func (l fakeAddrListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return fakeAddrConn{TCPConn: tc, remote: l.mapAddr(c.RemoteAddr())}, nil
}

// fakeAddrConn is a TCP connection (CloseWrite included) with another
// remote address.
type fakeAddrConn struct {
	*net.TCPConn
	remote net.Addr
}

func (c fakeAddrConn) RemoteAddr() net.Addr { return c.remote }

// loopbackIPs returns n addresses: 127.0.0.first, 127.0.0.first+1, ...
// (one /24) if sameNet, else 127.first.0.1, 127.first+1.0.1, ... (n /24s).
func loopbackIPs(first, n int, sameNet bool) []string {
	out := make([]string, n)
	for i := range out {
		if sameNet {
			out[i] = fmt.Sprintf("127.0.0.%d", first+i)
		} else {
			out[i] = fmt.Sprintf("127.%d.0.1", first+i)
		}
	}
	return out
}

// storedUsage returns the bytes of stored messages the server counts, and
// the most it counted.
func (s *Server) storedUsage() (now, peak int64) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return s.state.stored.total, s.state.stored.peak
}

// storedInStore adds up what the store itself holds, to check the count.
func (s *Server) storedInStore() int64 {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	mbs, err := s.state.store.mailboxes()
	if err != nil {
		panic(err)
	}
	var n int64
	for _, mb := range mbs {
		n += mb.storedCost()
	}
	return n
}

// bufferUsage returns the bytes of connection buffers the server counts,
// the most it counted, and the most one connection's queue held.
func (s *Server) bufferUsage() (now, peak, queuePeak int64) {
	s.bufs.mu.Lock()
	defer s.bufs.mu.Unlock()
	return s.bufs.total, s.bufs.peak, s.bufs.qpeak
}

// bufferDrops is how many clients were dropped to keep the buffers within
// MaxBufferBytes.
func (s *Server) bufferDrops() int {
	s.bufs.mu.Lock()
	defer s.bufs.mu.Unlock()
	return s.bufs.drops
}
