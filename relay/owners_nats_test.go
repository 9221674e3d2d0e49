package relay

import (
	"fmt"
	"strings"
	"testing"
)

// TestNameplatesPerClientShared: on relays that share a NATS store, a
// client's nameplates count against MaxNameplatesPerIP whichever relay it
// created them on (each relay counted only its own, so a client got the
// limit once per relay); a release on one relay frees its quota on the
// other.
func TestNameplatesPerClientShared(t *testing.T) {
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	cfg := Config{MaxNameplatesPerIP: 2, NATS: &NATSConfig{Server: ns, Prefix: "owners"}}
	_, urlA := startServer(t, cfg)
	b, urlB := startServer(t, cfg)

	first, _ := dialIP(t, urlA, "127.0.0.7")
	first.bind(testApp, "s1")
	name := first.request("allocated", "allocate")["nameplate"].(string)
	first.request("claimed", "claim", "nameplate", name)
	second, _ := dialIP(t, urlB, "127.0.0.7")
	second.bind(testApp, "s2")
	second.request("claimed", "claim", "nameplate", "77")
	// B's copy of A's record may be a moment behind.
	waitFor(t, "relay B to count both", func() bool { n, _, _ := b.state.store.owned(clientKeyOf("127.0.0.7")); return n == 2 })

	third, _ := dialIP(t, urlB, "127.0.0.7")
	third.bind(testApp, "s3")
	if got := third.refused("claim", "nameplate", "78"); got != "too many nameplates from your address" {
		t.Fatalf("a third nameplate from one address, over two relays: %q", got)
	}
	other, _ := dialIP(t, urlB, "127.0.0.8")
	other.bind(testApp, "o1")
	other.request("claimed", "claim", "nameplate", "79")

	first.request("released", "release", "nameplate", name)
	waitFor(t, "relay B to see the release", func() bool { n, _, _ := b.state.store.owned(clientKeyOf("127.0.0.7")); return n == 1 })
	fourth, _ := dialIP(t, urlB, "127.0.0.7")
	fourth.bind(testApp, "s4")
	fourth.request("claimed", "claim", "nameplate", "80")
}

// TestStoredPerClientShared: on relays that share a NATS store, the bytes
// a client added count against MaxStoredBytesPerIP whichever relay it
// added them through, and MaxStoredBytes counts every relay's mailboxes
// (each relay counted only what went through it).
func TestStoredPerClientShared(t *testing.T) {
	ns, err := StartNATS(t.Context(), NATSServerConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	body := strings.Repeat("x", 400) // each message costs about 620 bytes: four fit in 2700, a fifth does not
	cfg := Config{MaxStoredBytesPerIP: 1000, MaxStoredBytesPerPrefix: 100_000, MaxStoredBytes: 2700,
		NATS: &NATSConfig{Server: ns, Prefix: "stored"}}
	_, urlA := startServer(t, cfg)
	b, urlB := startServer(t, cfg)
	opened := func(url, ip, side, mbox string) *wsClient {
		c, _ := dialIP(t, url, ip)
		c.bind(testApp, side)
		c.command("open", "mailbox", mbox)
		return c
	}
	a1 := opened(urlA, "127.0.0.9", "s1", "mbox-one")
	a1.command("add", "phase", "0", "body", body)
	a1.expect("message")
	seen := func(want int64) func() bool {
		return func() bool { _, n, _, _ := b.state.store.stored(clientKeyOf("127.0.0.9")); return n >= want }
	}
	waitFor(t, "relay B to count the first message", seen(1))

	b1 := opened(urlB, "127.0.0.9", "s2", "mbox-two")
	if got := b1.refused("add", "phase", "0", "body", body); got != "too much stored from your address, try again later" {
		t.Fatalf("a second message from one address, through the other relay: %q", got)
	}
	// Others fill the relays up to MaxStoredBytes, through both.
	for i, url := range []string{urlA, urlB, urlA} {
		c := opened(url, fmt.Sprintf("127.0.1.%d", i+1), fmt.Sprintf("o%d", i), fmt.Sprintf("mbox-o%d", i))
		c.command("add", "phase", "0", "body", body)
		c.expect("message")
	}
	waitFor(t, "relay B to count four messages", func() bool { total, _, _, _ := b.state.store.stored(clientKeyOf("127.0.0.9")); return total >= 2400 })
	late := opened(urlB, "127.0.2.1", "l1", "mbox-late")
	if got := late.refused("add", "phase", "0", "body", body); got != "relay is out of space for messages, try again later" {
		t.Fatalf("a message over MaxStoredBytes counted over both relays: %q", got)
	}
}
