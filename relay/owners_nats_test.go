package relay

import "testing"

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
