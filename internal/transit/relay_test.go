package transit

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// startTransitRelay runs the reference transit relay (twist3 transitrelay)
// on loopback and returns its address.
func startTransitRelay(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("twist3"); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("twist3 is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("twist3 is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command("twist3", "transitrelay", "--port=tcp:"+strconv.Itoa(port)+":interface=127.0.0.1")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("the transit relay did not start")
		}
	}
}

// TestRelayOnly: two sides with no direct path meet at the reference
// transit relay and talk through it.
func TestRelayOnly(t *testing.T) {
	relay := startTransitRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	type res struct {
		c    net.Conn
		path string
		err  error
	}
	rc := make(chan res, 1)
	go func() {
		c, path, err := Race(ctx, Config{Key: key, Role: Receiver, Relays: []string{relay, relay}})
		rc <- res{c, path, err}
	}()
	s, path, err := Race(ctx, Config{Key: key, Role: Sender, Relays: []string{relay}})
	if err != nil || path != PathRelay {
		t.Fatalf("sender: %v, path %q", err, path)
	}
	defer s.Close()
	r := <-rc
	if r.err != nil || r.path != PathRelay {
		t.Fatalf("receiver: %v, path %q", r.err, r.path)
	}
	defer r.c.Close()
	go func() { s.Write([]byte("through the relay")); s.Close() }()
	got, err := io.ReadAll(r.c)
	if err != nil || string(got) != "through the relay" {
		t.Fatalf("got %q %v", got, err)
	}
}

// TestRelayWrongKey: a side with another key is paired by no one (the
// relay token differs), and gives up when its context ends.
func TestRelayWrongKey(t *testing.T) {
	relay := startTransitRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, _, err := Race(ctx, Config{Key: []byte("key-one"), Role: Receiver, Relays: []string{relay}})
		errc <- err
	}()
	if _, _, err := Race(ctx, Config{Key: []byte("key-two"), Role: Sender, Relays: []string{relay}}); err == nil {
		t.Fatal("sides with different keys met at the relay")
	}
	if err := <-errc; err == nil {
		t.Fatal("receiver connected with a different key")
	}
}

// TestRelayDelay: with a direct path available, the relay is tried only
// after the delay, so the direct connection wins.
func TestRelayDelay(t *testing.T) {
	relay := startTransitRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := []byte("0123456789abcdef0123456789abcdef")
	ls, lr := loopListener(t), loopListener(t)
	type res struct {
		path string
		err  error
	}
	rc := make(chan res, 1)
	go func() {
		c, path, err := Race(ctx, Config{Key: key, Role: Receiver, Listener: lr, Peer: ls.Hints(), Relays: []string{relay}, RelayDelay: time.Second})
		if c != nil {
			c.Close()
		}
		rc <- res{path, err}
	}()
	c, path, err := Race(ctx, Config{Key: key, Role: Sender, Listener: ls, Peer: lr.Hints(), Relays: []string{relay}, RelayDelay: time.Second})
	if err != nil || path != PathDirect {
		t.Fatalf("sender: %v, path %q", err, path)
	}
	c.Close()
	if r := <-rc; r.err != nil || r.path != PathDirect {
		t.Fatalf("receiver: %v, path %q", r.err, r.path)
	}
}
