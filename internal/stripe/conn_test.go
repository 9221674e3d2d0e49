package stripe

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// proxy forwards one TCP connection between two loopback sockets, so that
// a test can cut a path (kill: both ends reset) or silence it (hold: it
// stops forwarding and stays open).
type proxy struct {
	a, b   net.Conn // the proxy's ends
	mu     sync.Mutex
	held   bool
	resume chan struct{}
}

func (p *proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		for p.held {
			p.mu.Unlock()
			<-p.resume
			p.mu.Lock()
		}
		p.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) kill() {
	for _, c := range []net.Conn{p.a, p.b} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// hold makes the path a black hole: nothing is forwarded any more.
func (p *proxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = true
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

// proxiedPaths returns n paths for each side, each through a proxy.
func proxiedPaths(t *testing.T, n int) (left, right []Path, proxies []*proxy) {
	t.Helper()
	for i := range n {
		l, pa := tcpPair(t)
		pb, r := tcpPair(t)
		p := &proxy{a: pa, b: pb, resume: make(chan struct{})}
		go p.pump(pb, pa)
		go p.pump(pa, pb)
		t.Cleanup(func() {
			p.mu.Lock()
			if p.held {
				p.held = false
				close(p.resume)
			}
			p.mu.Unlock()
			p.kill()
		})
		name := string(rune('a' + i))
		left = append(left, Path{ReadWriteCloser: l, Name: name})
		right = append(right, Path{ReadWriteCloser: r, Name: name})
		proxies = append(proxies, p)
	}
	return left, right, proxies
}

func newPair(t *testing.T, left, right []Path, cfg Config) (*Conn, *Conn) {
	t.Helper()
	a, err := New(left, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(right, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Abort(); b.Abort() })
	return a, b
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// send writes data on w in writes of odd sizes and closes the write side;
// it reports the error on errc.
func send(w *Conn, data []byte, errc chan<- error) {
	for len(data) > 0 {
		k := min(len(data), 100_003)
		if _, err := w.Write(data[:k]); err != nil {
			errc <- err
			return
		}
		data = data[k:]
	}
	errc <- w.CloseWrite()
}

// during calls f once r has read at least at bytes.
type during struct {
	r  io.Reader
	at int64
	n  int64
	f  func()
}

func (d *during) Read(b []byte) (int, error) {
	n, err := d.r.Read(b)
	d.n += int64(n)
	if d.f != nil && d.n >= d.at {
		d.f()
		d.f = nil
	}
	return n, err
}

// TestStripeBothWays: a stream each way over three paths arrives whole
// and in order on both sides, and every path carried pieces.
func TestStripeBothWays(t *testing.T) {
	left, right, _ := proxiedPaths(t, 3)
	a, b := newPair(t, left, right, Config{})
	ab, ba := randomBytes(t, 24<<20), randomBytes(t, 3<<20)
	errc := make(chan error, 2)
	go send(a, ab, errc)
	go send(b, ba, errc)
	var gotAB, gotBA []byte
	var rerr [2]error
	var wg sync.WaitGroup
	wg.Go(func() { gotAB, rerr[0] = io.ReadAll(b) })
	wg.Go(func() { gotBA, rerr[1] = io.ReadAll(a) })
	wg.Wait()
	for i := range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("write: %v", err)
		}
		if rerr[i] != nil {
			t.Fatalf("read: %v", rerr[i])
		}
	}
	if !bytes.Equal(gotAB, ab) || !bytes.Equal(gotBA, ba) {
		t.Fatalf("the streams differ: %d of %d and %d of %d bytes", len(gotAB), len(ab), len(gotBA), len(ba))
	}
	for _, s := range a.Stats() {
		if s.Sent == 0 || s.Failed != nil {
			t.Errorf("path %s: sent %d, failed %v", s.Name, s.Sent, s.Failed)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// TestStripePathKilled: a path reset half way costs only its pieces in
// flight: they go out again on the others and the stream is whole.
func TestStripePathKilled(t *testing.T) {
	left, right, proxies := proxiedPaths(t, 3)
	a, b := newPair(t, left, right, Config{})
	data := randomBytes(t, 48<<20)
	errc := make(chan error, 1)
	go send(a, data, errc)
	r := &during{r: b, at: int64(len(data) / 2), f: proxies[1].kill}
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) || n != int64(len(data)) {
		t.Fatalf("got %d bytes, not the %d sent", n, len(data))
	}
	assertFailed(t, a, "b")
	a.Close()
}

// TestStripePathSilent: a path that stops carrying anything without
// failing (a black hole) is given up after DeadAfter, and its pieces go
// out on the others.
func TestStripePathSilent(t *testing.T) {
	left, right, proxies := proxiedPaths(t, 2)
	cfg := Config{PingEvery: 50 * time.Millisecond, DeadAfter: 500 * time.Millisecond}
	a, b := newPair(t, left, right, cfg)
	data := randomBytes(t, 32<<20)
	errc := make(chan error, 1)
	go send(a, data, errc)
	r := &during{r: b, at: int64(len(data) / 3), f: proxies[0].hold}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, not the %d sent", len(got), len(data))
	}
	assertFailed(t, a, "a")
}

// assertFailed checks that c gave up path name and only it.
func assertFailed(t *testing.T, c *Conn, name string) {
	t.Helper()
	for _, s := range c.Stats() {
		if (s.Failed != nil) != (s.Name == name) {
			t.Errorf("path %s: failed %v", s.Name, s.Failed)
		}
	}
}

// TestStripeAllPathsDown: when every path is gone, reads and writes fail
// with ErrPathsDown instead of waiting.
func TestStripeAllPathsDown(t *testing.T) {
	left, right, proxies := proxiedPaths(t, 2)
	a, b := newPair(t, left, right, Config{})
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
	for _, p := range proxies {
		p.kill()
	}
	if _, err := b.Read(buf); !errors.Is(err, ErrPathsDown) {
		t.Fatalf("read after every path died: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.Write(make([]byte, 1<<20))
		if errors.Is(err, ErrPathsDown) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("write after every path died: %v", err)
		}
	}
}

// TestStripeDeadline: deadlines end a waiting Read or Write with a
// timeout, as net.Conn's do.
func TestStripeDeadline(t *testing.T) {
	left, right, _ := proxiedPaths(t, 1)
	a, _ := newPair(t, left, right, Config{Window: 1 << 20})
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := a.Read(make([]byte, 1)); !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	// The peer never reads: the window fills and the write times out.
	a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := a.Write(make([]byte, 4<<20)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past the deadline: %v", err)
	}
}

// TestStripeAllSilent: when every path falls silent (the peer stopped, or
// the network is gone), no path is given up for it: the caller's deadline
// ends the wait, as on one connection, and the paths are still there when
// the peer comes back.
func TestStripeAllSilent(t *testing.T) {
	left, right, proxies := proxiedPaths(t, 2)
	cfg := Config{PingEvery: 20 * time.Millisecond, DeadAfter: 200 * time.Millisecond}
	a, b := newPair(t, left, right, cfg)
	for _, p := range proxies {
		p.hold()
	}
	b.SetReadDeadline(time.Now().Add(time.Second)) // five times DeadAfter
	if _, err := b.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with every path silent: %v, want the deadline", err)
	}
	for _, c := range []*Conn{a, b} {
		for _, s := range c.Stats() {
			if s.Failed != nil {
				t.Errorf("path %s given up while every path was silent: %v", s.Name, s.Failed)
			}
		}
	}
	for _, p := range proxies {
		p.mu.Lock()
		p.held = false
		close(p.resume)
		p.mu.Unlock()
	}
	b.SetReadDeadline(time.Time{})
	if _, err := a.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "back" {
		t.Fatalf("after the paths came back: %q, %v", got, err)
	}
}
