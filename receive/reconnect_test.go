package receive_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// cutter dials the transit relay for the receiver and closes the
// connection under the stream once cut bytes came in on it (once), so
// that the receiver holds at least that much, less a chunk.
type cutter struct {
	cut    int64
	done   atomic.Bool
	dials  atomic.Int32
	refuse bool // after the cut, no new connection goes through
}

func (c *cutter) dial(ctx context.Context, addr string) (net.Conn, error) {
	if c.refuse && c.done.Load() {
		return nil, errors.New("the network is gone")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.dials.Add(1)
	return &cutConn{Conn: conn, c: c}, nil
}

type cutConn struct {
	net.Conn
	c *cutter
	n int64
}

func (cc *cutConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.n += int64(n)
	if cc.n > cc.c.cut && cc.c.done.CompareAndSwap(false, true) {
		cc.Conn.Close() // the path breaks mid-transfer
	}
	return n, err
}

// transitRelay runs a transit relay on loopback.
func transitRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); relay.NewTransit(relay.TransitConfig{}).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	return ln.Addr().String()
}

// reconnects records the attempts a side reports.
type reconnects struct {
	mu       sync.Mutex
	attempts []int
}

func (r *reconnects) note(n int, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, n)
}

func (r *reconnects) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts)
}

// reconnectRun sends a file through a transit relay whose connection
// the receiver closes after a third of it came in; each side reconnects
// for up to its timeout.
func reconnectRun(t *testing.T, sendTimeout, recvTimeout time.Duration, refuse bool) (out string, data []byte, cut *cutter, sr, rr *reconnects, n *notes, err error) {
	t.Helper()
	_, out = landingDirs(t)
	src := t.TempDir()
	data = randomBytes(7, 6<<20)
	writeSource(t, src, []rfile{{"big.iso", data}})
	tr := transitRelay(t)
	cut = &cutter{cut: 2 << 20, refuse: refuse}
	sr, rr = &reconnects{}, &reconnects{}
	n = &notes{}
	err = sendWith(t, out, []string{filepath.Join(src, "big.iso")}, n, func(so *send.FileOptions, ro *receive.Options) {
		so.Transport, so.TransitRelay = transfer.TransportRelay, tr
		ro.Transport, ro.TransitRelay, ro.DialTransit = transfer.TransportRelay, tr, cut.dial
		so.ReconnectTimeout, ro.ReconnectTimeout = sendTimeout, recvTimeout
		so.OnReconnecting, ro.OnReconnecting = sr.note, rr.note
		so.IdleTimeout, ro.IdleTimeout = 3*time.Second, 3*time.Second
	}, false)
	return out, data, cut, sr, rr, n, err
}

// TestReconnectInRun: the connection under the stream is closed a third
// of the way through; both sides find a new path through the mailbox (the
// new attempt's own keys) and the same run completes, the file
// byte-identical, from what the receiver held.
func TestReconnectInRun(t *testing.T) {
	out, data, cut, sr, rr, n, err := reconnectRun(t, 5*time.Second, 5*time.Second, false)
	if err != nil {
		t.Fatalf("receiver: %v", err)
	}
	if !cut.done.Load() {
		t.Fatal("the connection was never cut: the test proves nothing")
	}
	sameContent(t, filepath.Join(out, "big.iso"), data)
	if sr.count() == 0 || rr.count() == 0 {
		t.Fatalf("reconnect attempts: sender %d, receiver %d; want both at least 1", sr.count(), rr.count())
	}
	// the second attempt went on from what the receiver held
	n.mu.Lock()
	resumed := n.resumed
	n.mu.Unlock()
	if len(resumed) != 1 || strings.HasPrefix(resumed[0], "big.iso at 0 ") {
		t.Fatalf("resumed %q, want big.iso once, from what had arrived", resumed)
	}
	if n := cut.dials.Load(); n < 2 {
		t.Fatalf("the receiver dialled the relay %d times, want a new connection after the cut", n)
	}
	if recs, _ := filepath.Glob(filepath.Join(out, ".ferry-partial-*")); len(recs) != 0 {
		t.Fatalf("staging left behind: %q", recs)
	}
}

// TestReconnectOff: with a reconnect timeout of 0 the same cut fails the
// transfer, as before reconnecting existed, and nothing gets its name.
func TestReconnectOff(t *testing.T) {
	out, _, cut, sr, _, _, err := reconnectRun(t, 0, 0, false)
	if err == nil {
		t.Fatal("a transfer whose connection was cut succeeded without reconnecting")
	}
	if !cut.done.Load() || sr.count() != 0 {
		t.Fatalf("cut %v, reconnect attempts %d", cut.done.Load(), sr.count())
	}
	// in words, not what the decrypter made of a stream cut short
	if !errors.Is(err, receive.ErrConnectionLost) || strings.Contains(err.Error(), "damaged") {
		t.Errorf("error %q; want ErrConnectionLost", err)
	}
	if _, err := os.Lstat(filepath.Join(out, "big.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("big.iso has its final name after a failed transfer: %v", err)
	}
}

// TestReconnectGivesUp: when no new path works within the reconnect
// timeout (here the receiver's 1 s, the sender's being longer: the
// receiver's network stays gone after the cut), the receiver fails saying
// so, and nothing gets its final name.
func TestReconnectGivesUp(t *testing.T) {
	out, _, cut, _, rr, _, err := reconnectRun(t, 10*time.Second, time.Second, true)
	if err == nil {
		t.Fatal("a transfer succeeded although no new path could be made")
	}
	if !cut.done.Load() || rr.count() == 0 {
		t.Fatalf("cut %v, receiver's reconnect attempts %d", cut.done.Load(), rr.count())
	}
	if want := "no new path to the other side was found within 1s"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if _, err := os.Lstat(filepath.Join(out, "big.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("big.iso has its final name after a failed transfer: %v", err)
	}
}

// TestReconnectStdinCannotResume: a stream from stdin cannot resume (it
// cannot be read again, and nothing keeps what was sent), so when its
// connection is cut with reconnecting on, both sides fail at once and say
// so, instead of waiting out the reconnect timeout or naming only the
// broken connection; nothing gets its final name.
func TestReconnectStdinCannotResume(t *testing.T) {
	_, out := landingDirs(t)
	data := randomBytes(8, 6<<20)
	tr := transitRelay(t)
	cut := &cutter{cut: 2 << 20}
	sr, rr := &reconnects{}, &reconnects{}
	ctx, url := setup(t)
	codes := make(chan string, 1)
	so := send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }},
		Stdin: bytes.NewReader(data), StdinName: "big.iso"}
	ro := receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil }}
	so.Transport, so.TransitRelay = transfer.TransportRelay, tr
	ro.Transport, ro.TransitRelay, ro.DialTransit = transfer.TransportRelay, tr, cut.dial
	so.ReconnectTimeout, ro.ReconnectTimeout = 30*time.Second, 30*time.Second
	so.OnReconnecting, ro.OnReconnecting = sr.note, rr.note
	so.IdleTimeout, ro.IdleTimeout = 3*time.Second, 3*time.Second
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, so, []string{"-"})
		errc <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-errc:
		t.Fatalf("sender: %v", err)
	}
	_, rerr := receive.Run(ctx, code, ro)
	serr := <-errc
	if !cut.done.Load() {
		t.Fatal("the connection was never cut: the test proves nothing")
	}
	if rerr == nil || serr == nil {
		t.Fatalf("a stream from stdin survived a cut it cannot resume from: receiver %v, sender %v", rerr, serr)
	}
	if want := "the sender streams from stdin, which cannot be read again"; !strings.Contains(rerr.Error(), want) {
		t.Errorf("receiver's error %q does not say %q", rerr, want)
	}
	// The sender says it itself, or quotes the receiver, whichever side
	// noticed first.
	if !strings.Contains(serr.Error(), "stdin") || !strings.Contains(serr.Error(), "cannot be read again") {
		t.Errorf("sender's error %q does not say that a stream from stdin cannot resume", serr)
	}
	if sr.count() != 0 || rr.count() != 0 {
		t.Errorf("reconnect attempts: sender %d, receiver %d; a stream from stdin cannot resume, want none", sr.count(), rr.count())
	}
	if _, err := os.Lstat(filepath.Join(out, "big.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("big.iso has its final name after a failed transfer: %v", err)
	}
	t.Logf("receiver: %v", rerr)
	t.Logf("sender: %v", serr)
}
