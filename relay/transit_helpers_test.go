package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// transitRelay is a running transit relay under test: ferry's, or the
// reference Python one (then srv is nil).
type transitRelay struct {
	name string
	addr string
	srv  *TransitServer
	stop func() error // stops it; for ferry's, Serve's result
}

// startTransit runs a TransitServer for cfg on loopback until the test
// ends.
func startTransit(t testing.TB, cfg TransitConfig) *transitRelay {
	t.Helper()
	return serveTransit(t, cfg, "ferry", nil)
}

// serveTransit is startTransit with the listener wrapped by wrap (nil:
// as it is), for tests that fake client addresses.
func serveTransit(t testing.TB, cfg TransitConfig, name string, wrap func(net.Listener) net.Listener) *transitRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served net.Listener = ln
	if wrap != nil {
		served = wrap(ln)
	}
	s := NewTransit(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, served) }()
	r := &transitRelay{name: name, addr: ln.Addr().String(), srv: s}
	var result error
	stopped := false
	r.stop = func() error {
		if !stopped {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return after cancel")
			}
			stopped = true
		}
		return result
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

// startReferenceTransit runs Debian's magic-wormhole-transit-relay on
// loopback until the test ends; it skips the test if that is not
// installed (fails with FERRY_REQUIRE_PEERS=1).
//
// The test opens the listening socket and the relay inherits it, the way
// systemd hands a service its socket (twisted's "systemd:" endpoint). A
// port picked, closed and named on the command line could be taken by
// any of the suite's other connections during the seconds Python takes
// to start; the relay then logged CannotListenError and went on running
// without listening (CI, stop 17).
func startReferenceTransit(t testing.TB) *transitRelay {
	t.Helper()
	bin, err := exec.LookPath("twist3")
	if err == nil {
		err = exec.Command(bin, "transitrelay", "--help").Run()
	}
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatalf("twist3 transitrelay unavailable and FERRY_REQUIRE_PEERS=1: %v", err)
		}
		t.Skipf("twist3 transitrelay unavailable: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	sock, err := ln.(*net.TCPListener).File()
	ln.Close() // sock is a duplicate: the socket stays open and listening
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close() // the relay holds its own copy once started
	dir := t.TempDir()
	// LISTEN_PID must be the relay's own pid: the shell sets it to its
	// own, then becomes the relay with exec. The socket is fd 3.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`,
		bin, "transitrelay", "--port", "systemd:domain=INET:index=0")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1")
	cmd.ExtraFiles = []*os.File{sock}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	// It logs this once it listens. (A probe connection would not tell:
	// the kernel queues it on the inherited socket before Python runs.)
	// Python starts in about a second here but in several while the whole
	// suite loads both cores; a relay that exits or fails to listen fails
	// the test at once, showing its log.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Starting factory") {
		select {
		case <-done:
			t.Fatalf("the reference transit relay exited before it listened:\n%s", out.String())
		default:
		}
		if strings.Contains(out.String(), "CannotListenError") || time.Now().After(deadline) {
			t.Fatalf("the reference transit relay did not listen on %s:\n%s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &transitRelay{name: "reference", addr: addr, stop: func() error { return nil }}
}

// bothTransits runs f against ferry's transit relay and the reference one.
func bothTransits(t *testing.T, f func(t *testing.T, r *transitRelay)) {
	t.Run("ferry", func(t *testing.T) { f(t, startTransit(t, TransitConfig{})) })
	t.Run("reference", func(t *testing.T) { f(t, startReferenceTransit(t)) })
}

// dialTransitFrom connects to the relay from local address ip ("" for
// any; Linux accepts all of 127.0.0.0/8 on loopback).
func dialTransitFrom(t testing.TB, addr, ip string) *net.TCPConn {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func dialTransit(t testing.TB, addr string) *net.TCPConn { return dialTransitFrom(t, addr, "") }

// newToken returns a random relay token (64 hex digits).
func newToken(t testing.TB) string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// handshake is the sided handshake line; side "" gives the old form.
func handshake(token, side string) string {
	if side == "" {
		return "please relay " + token + "\n"
	}
	return "please relay " + token + " for side " + side + "\n"
}

func send(t testing.TB, c net.Conn, s string) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

// expectRead reads exactly len(want) bytes and compares them.
func expectRead(t testing.TB, c net.Conn, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(c, got)
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got[:n], err, want)
	}
}

// readToEnd reads until the relay closes the connection and returns what
// came; a reset counts as the end too.
func readToEnd(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("read to end: got %q, then %v", b, err)
	}
	return string(b)
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

// pair connects two clients with the same token and different sides and
// reads their "ok".
func pair(t testing.TB, addr string) (a, b *net.TCPConn) {
	t.Helper()
	return pairConns(t, dialTransit(t, addr), dialTransit(t, addr))
}

// pairConns pairs a and b with a new token and different sides and reads
// their "ok".
func pairConns(t testing.TB, a, b *net.TCPConn) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	token := newToken(t)
	send(t, a, handshake(token, "aaaaaaaaaaaaaaaa"))
	send(t, b, handshake(token, "bbbbbbbbbbbbbbbb"))
	expectRead(t, a, "ok\n")
	expectRead(t, b, "ok\n")
	// The handshake's deadlines must not bound what the test does next
	// (64 MiB each way took over 5 s on a loaded machine: TestTransitLarge
	// failed with an i/o timeout): callers set their own.
	a.SetDeadline(time.Time{})
	b.SetDeadline(time.Time{})
	return a, b
}

// waitStats waits until the server's stats satisfy ok.
func waitStats(t testing.TB, s *TransitServer, what string, ok func(TransitStats) bool) {
	t.Helper()
	waitFor(t, what, func() bool { return ok(s.Stats()) })
	if !ok(s.Stats()) {
		t.Fatalf("%s: stats %+v", what, s.Stats())
	}
}

// idle is the condition that nothing is left on the server.
func idle(st TransitStats) bool { return st == TransitStats{} }
