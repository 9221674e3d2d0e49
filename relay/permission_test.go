package relay

import (
	"context"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/hashcash"
)

// TestWelcomeYourAddress: the welcome reports the client's address and
// port, as magic-wormhole-mailbox-server 0.8 does.
func TestWelcomeYourAddress(t *testing.T) {
	_, url := startServer(t, Config{})
	c, welcome := dialIP(t, url, "127.0.0.9")
	you, ok := welcome["welcome"].(map[string]any)["your-address"].(map[string]any)
	if !ok {
		t.Fatalf("welcome %v has no your-address", welcome)
	}
	if you["ipv4"] != "127.0.0.9" || you["port"].(float64) < 1 || you["ipv6"] != nil {
		t.Fatalf("your-address = %v, want ipv4 127.0.0.9 and a port", you)
	}
	c.bind(testApp, "aaaa")
	if got := yourAddressOf("[::ffff:10.1.2.3]:4000"); got == nil || got.IPv4 != "10.1.2.3" || got.Port != 4000 {
		t.Errorf("a v4-mapped address: %+v", got)
	}
	if got := yourAddressOf("[2001:db8::1%eth0]:5"); got == nil || got.IPv6 != "2001:db8::1" || got.IPv4 != "" {
		t.Errorf("an IPv6 address: %+v", got)
	}
}

// hashcashOf returns the hashcash the welcome asks for.
func hashcashOf(t *testing.T, welcome map[string]any) (int, string) {
	t.Helper()
	perm, ok := welcome["welcome"].(map[string]any)["permission-required"].(map[string]any)
	if !ok {
		t.Fatalf("welcome %v asks for no permission", welcome)
	}
	hc := perm["hashcash"].(map[string]any)
	return int(hc["bits"].(float64)), hc["resource"].(string)
}

// TestHashcashRequired: with HashcashBits the welcome asks for a stamp, a
// resource new to each connection; bind without one, with a bad one or
// with one for another connection is "permission denied", and a client
// that did the work binds and transfers.
func TestHashcashRequired(t *testing.T) {
	_, url := startServer(t, Config{HashcashBits: 12})
	mint := func(bits int, resource string) string {
		s, err := hashcash.Mint(context.Background(), bits, resource, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	lazy, w := dial(t, url)
	bits, res := hashcashOf(t, w)
	if bits != 12 || len(res) != 16 {
		t.Fatalf("hashcash %d bits for %q, want 12 bits and a 16-digit resource", bits, res)
	}
	if got := lazy.refused("bind", "appid", testApp, "side", "aaaa"); got != "permission denied" {
		t.Errorf("bind without a stamp: %q", got)
	}
	if got := lazy.refused("allocate"); got != "must bind first" {
		t.Errorf("allocate after a refused bind: %q", got)
	}

	other, w2 := dial(t, url)
	_, res2 := hashcashOf(t, w2)
	if res2 == res {
		t.Fatalf("two connections got the same resource %q", res)
	}
	// a stamp for the first connection does not earn the second
	if got := other.refused("submit-permissions", "method", "hashcash", "stamp", mint(12, res)); got != "permission denied" {
		t.Errorf("another connection's stamp: %q", got)
	}
	if got := other.refused("bind", "appid", testApp, "side", "bbbb"); got != "permission denied" {
		t.Errorf("bind after a bad stamp: %q", got)
	}

	for _, name := range []string{"too little work", "not hashcash", "another method"} {
		c, w := dial(t, url)
		_, r := hashcashOf(t, w)
		method, stamp := "hashcash", "hello"
		switch name {
		case "too little work":
			stamp = mint(4, r)
			for hashcash.Check(stamp, 12, r, time.Now()) == nil { // by luck it has 12
				stamp = mint(4, r)
			}
		case "another method":
			method, stamp = "none", ""
		}
		if got := c.refused("submit-permissions", "method", method, "stamp", stamp); got != "permission denied" {
			t.Errorf("%s: %q", name, got)
		}
	}

	a, wa := dial(t, url)
	_, ra := hashcashOf(t, wa)
	a.command("submit-permissions", "method", "hashcash", "stamp", mint(12, ra))
	a.bind(testApp, "aaaa")
	np := a.request("allocated", "allocate")["nameplate"]
	a.request("claimed", "claim", "nameplate", np)
	if got := a.refused("submit-permissions", "method", "hashcash", "stamp", mint(12, ra)); got != "submit-permissions must come before bind" {
		t.Errorf("a second stamp after bind: %q", got)
	}
}

// TestHashcashOff: without HashcashBits the welcome asks nothing, and a
// stamp submitted anyway is accepted and ignored.
func TestHashcashOff(t *testing.T) {
	_, url := startServer(t, Config{})
	c, w := dial(t, url)
	if _, ok := w["welcome"].(map[string]any)["permission-required"]; ok {
		t.Fatalf("welcome %v asks for permission", w)
	}
	c.command("submit-permissions", "method", "hashcash", "stamp", "whatever")
	c.bind(testApp, "aaaa")
	if _, err := New(Config{HashcashBits: maxHashcashBits + 1}); err == nil {
		t.Error("New took HashcashBits above the maximum")
	}
}
