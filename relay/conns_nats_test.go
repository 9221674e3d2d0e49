package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// startNATSForConns starts a NATS server for a test's relays.
func startNATSForConns(t *testing.T) *NATSServer {
	t.Helper()
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return ns
}

// startCrashable is startServer for a relay whose NATS connection the
// test cuts (crash), as when its machine dies: its Close then fails, which
// the test does not hold against it.
func startCrashable(t *testing.T, cfg Config) (s *Server, url string, crash func()) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	crash = func() { s.state.store.(*natsStore).nc.Close() }
	return s, "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1", crash
}

// refusedConn dials url from ip and expects HTTP 503 with body want.
func refusedConn(t *testing.T, url, ip, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ws, resp, err := dialFrom(ctx, url, ip)
	if err == nil {
		ws.CloseNow()
		t.Fatalf("connection from %s to %s accepted over the limit", ip, url)
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("connection from %s: %v, want HTTP 503", ip, err)
	}
	body, _ := io.ReadAll(resp.Body) // websocket.Dial keeps its first KiB
	if !strings.Contains(string(body), want) {
		t.Fatalf("connection from %s refused with %q, want %q", ip, body, want)
	}
}

// seesOthers is a condition: relay s counts n connections of ip's
// address on the other relays.
func seesOthers(s *Server, ip string, n int64) func() bool {
	return func() bool { a, _ := s.share.others(clientKeyOf(ip)); return a == n }
}

// seesNetwork is seesOthers for ip's network.
func seesNetwork(s *Server, ip string, n int64) func() bool {
	return func() bool { _, p := s.share.others(clientKeyOf(ip)); return p == n }
}

// TestConnsPerClientShared: on three relays that share a NATS store,
// MaxConnsPerIP counts a client's connections on all of them (each
// relay counted only its own, so a client got the limit once per
// relay); a connection that closes frees its slot on the others; a relay
// that dies stops counting once its counts expire (ConnsTTL), and one
// that closes at once.
func TestConnsPerClientShared(t *testing.T) {
	ns := startNATSForConns(t)
	cfg := Config{MaxConnsPerIP: 2, NATS: &NATSConfig{Server: ns, Prefix: "conns", ConnsTTL: 3 * time.Second}}
	a, urlA := startServer(t, cfg)
	b, urlB := startServer(t, cfg)
	c, urlC, crash := startCrashable(t, cfg)
	const ip = "127.0.0.30"

	a1, _ := dialIP(t, urlA, ip)
	a1.sync()
	waitFor(t, "relays B and C to count A's connection", func() bool { return seesOthers(b, ip, 1)() && seesOthers(c, ip, 1)() })
	b1, _ := dialIP(t, urlB, ip)
	b1.sync()
	waitFor(t, "relays A and C to count B's connection", func() bool { return seesOthers(a, ip, 1)() && seesOthers(c, ip, 2)() })
	for _, url := range []string{urlC, urlA, urlB} {
		refusedConn(t, url, ip, "too many connections from your address")
	}
	if n := metric(t, c, "ferry_mailbox_refusals_total", "reason", refusedConnsPerClient); n != 1 {
		t.Fatalf("relay C counted %v refusals per client, want 1", n)
	}
	dialIP(t, urlC, "127.0.0.31") // another address is welcome

	// A's connection closes: C admits one.
	a1.close()
	waitFor(t, "relay C to see A's connection close", seesOthers(c, ip, 1))
	c1, _ := dialIP(t, urlC, ip)
	c1.sync()
	waitFor(t, "relay A to count C's connection", seesOthers(a, ip, 2))
	refusedConn(t, urlA, ip, "too many connections from your address")

	// C dies without a word: its count expires, and A admits again.
	crash()
	waitFor(t, "relay A to let C's counts expire", seesOthers(a, ip, 1))
	waitFor(t, "relay B to let C's counts expire", seesOthers(b, ip, 0))
	a2, _ := dialIP(t, urlA, ip)
	a2.sync()
	waitFor(t, "relay B to count A's new connection", seesOthers(b, ip, 1))
	refusedConn(t, urlB, ip, "too many connections from your address")

	// B closes: its entry goes with it, not a TTL later. (Its client
	// leaves first, so that B's close waits for nobody.)
	b1.close()
	waitFor(t, "relay B's client to leave", func() bool { return b.connCount() == 0 })
	kv := b.state.store.(*natsStore).conns
	id := b.share.id
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(t.Context(), id); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("a closed relay's connection counts: %v, want them deleted", err)
	}
	waitFor(t, "relay A to forget B's counts", seesOthers(a, ip, 0))
	dialIP(t, urlA, ip)
}

// TestConnsPerPrefixShared is TestConnsPerClientShared for
// MaxConnsPerPrefix: addresses of one /24 over two relays.
func TestConnsPerPrefixShared(t *testing.T) {
	ns := startNATSForConns(t)
	cfg := Config{MaxConnsPerIP: 2, MaxConnsPerPrefix: 3, NATS: &NATSConfig{Server: ns, Prefix: "prefix"}}
	a, urlA := startServer(t, cfg)
	b, urlB := startServer(t, cfg)
	a1, _ := dialIP(t, urlA, "127.0.6.1")
	b1, _ := dialIP(t, urlB, "127.0.6.2")
	a2, _ := dialIP(t, urlA, "127.0.6.3")
	a1.sync()
	b1.sync()
	a2.sync()
	waitFor(t, "relay B to count A's two", seesNetwork(b, "127.0.6.4", 2))
	waitFor(t, "relay A to count B's one", seesNetwork(a, "127.0.6.4", 1))
	refusedConn(t, urlB, "127.0.6.4", "too many connections from your network")
	refusedConn(t, urlA, "127.0.6.4", "too many connections from your network")
	if n := metric(t, b, "ferry_mailbox_refusals_total", "reason", refusedConnsPerClient); n != 1 {
		t.Fatalf("relay B counted %v refusals per client, want 1", n)
	}
	dialIP(t, urlB, "127.0.7.1") // another network is welcome
	a1.close()
	waitFor(t, "relay B to see A's connection close", seesNetwork(b, "127.0.6.4", 1))
	b2, _ := dialIP(t, urlB, "127.0.6.4")
	b2.sync()
}

// TestConnsSharedOnlyWhatMatters: with MaxConnsPerIP 5 over two relays a
// relay shares a client's count only from 3 connections on it (below
// that the total cannot reach 5), and then the other relay shares its
// count of the client too, so that the limit still holds exactly.
func TestConnsSharedOnlyWhatMatters(t *testing.T) {
	ns := startNATSForConns(t)
	cfg := Config{MaxConnsPerIP: 5, MaxConnsPerPrefix: 1000, NATS: &NATSConfig{Server: ns, Prefix: "matters"}}
	a, urlA := startServer(t, cfg)
	b, urlB := startServer(t, cfg)
	relays := func(s *Server) func() bool {
		return func() bool { s.share.mu.Lock(); defer s.share.mu.Unlock(); return s.share.relaysLocked() == 2 }
	}
	waitFor(t, "the relays to see each other", func() bool { return relays(a)() && relays(b)() })
	if n := metric(t, a, "ferry_mailbox_sharing_relays"); n != 2 {
		t.Fatalf("relay A's metrics count %v relays, want 2", n)
	}
	lint(t, a)
	const ip = "127.0.0.40"
	for _, url := range []string{urlA, urlA, urlB, urlB} {
		c, _ := dialIP(t, url, ip)
		c.sync()
	}
	for _, s := range []*Server{a, b} {
		if got, err := decodeConnCounts(s.share.entry()); err != nil || len(got.addr) != 0 {
			t.Fatalf("with 2 connections of 5 on each relay, one shares %v, %v; want nothing", got.addr, err)
		}
	}
	c, _ := dialIP(t, urlA, ip) // the fifth: 3 on A
	c.sync()
	waitFor(t, "relay B to count A's three", seesOthers(b, ip, 3))
	waitFor(t, "relay A to count B's two", seesOthers(a, ip, 2))
	// A's entry: the header, one address (length, 10 bytes, count), no network.
	waitFor(t, "relay A's metrics to show its entry", func() bool { return metric(t, a, "ferry_mailbox_shared_counts_bytes") == 2+1+1+10+1+1 })
	refusedConn(t, urlA, ip, "too many connections from your address")
	refusedConn(t, urlB, ip, "too many connections from your address")
}

// TestConnsUnsharedStore: on the memory store (nothing shared) the
// limits count this relay's connections only, as they always did.
func TestConnsUnsharedStore(t *testing.T) {
	s, url := startServer(t, Config{MaxConnsPerIP: 1})
	if s.share != nil {
		t.Fatal("a memory store shares connection counts")
	}
	c, _ := dialIP(t, url, "127.0.0.50")
	c.sync()
	refusedConn(t, url, "127.0.0.50", "too many connections from your address")
}

// TestConnsForeignEntries: what a relay reads from the bucket is another
// relay's word: a well-formed entry counts, a malformed one (or one that
// turns malformed) counts nothing but its relay, and the relay goes on.
func TestConnsForeignEntries(t *testing.T) {
	ns := startNATSForConns(t)
	a, urlA := startServer(t, Config{MaxConnsPerIP: 2, NATS: &NATSConfig{Server: ns, Prefix: "foreign"}})
	kv := a.state.store.(*natsStore).conns
	const ip = "127.0.0.60"
	put := func(key string, val []byte) {
		t.Helper()
		if _, err := kv.Put(t.Context(), key, val); err != nil {
			t.Fatal(err)
		}
	}
	entry, _ := encodeConnCounts(connCounts{addr: map[string]int64{ip: 2}}, maxConnsEntryBytes)
	put("OTHER", entry)
	waitFor(t, "relay A to count the other relay's two", seesOthers(a, ip, 2))
	refusedConn(t, urlA, ip, "too many connections from your address")

	put("JUNK", []byte("\x63\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	relays := func(n int) func() bool {
		return func() bool { r, _ := a.share.gauges(); return r == n }
	}
	waitFor(t, "relay A to count the junk's relay", relays(3))
	refusedConn(t, urlA, ip, "too many connections from your address")

	put("OTHER", []byte("not counts"))
	waitFor(t, "relay A to drop the other relay's counts", seesOthers(a, ip, 0))
	c, _ := dialIP(t, urlA, ip)
	c.sync()
	if r, _ := a.share.gauges(); r != 3 {
		t.Fatalf("relay A sees %d relays, want 3", r)
	}
}
