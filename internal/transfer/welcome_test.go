package transfer

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/ferrydrop/ferry/relay"
)

// dialWelcome is a wormhole on a real relay whose welcome names cfg's
// transit relay and STUN server.
func dialWelcome(t *testing.T, cfg relay.Config) *wormhole.Wormhole {
	t.Helper()
	s, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background(), wormhole.Happy) })
	return w
}

// TestRelayLink: the relay node's transit relay and STUN server replace
// the defaults, and only those; a name is resolved (localhost, from the
// machine's hosts file); a receiver with a default transit relay takes
// the sender's when it is an address it dials, and its own node's when
// the sender offered only a name.
func TestRelayLink(t *testing.T) {
	ctx := context.Background()
	w := dialWelcome(t, relay.Config{Transit: ":4001", STUN: "localhost:3478"})
	base := LinkOptions{TransitRelay: "transit.example:4001", NAT: natconf.Config{STUN: []string{"stun:stun.example:3478"}}}
	both := RelayDefaults{Transit: true, STUN: true}

	lo := RelayLink(ctx, base, w, both, nil)
	if lo.TransitRelay != "127.0.0.1:4001" || !slices.Equal(lo.NAT.STUN, []string{"stun:127.0.0.1:3478"}) {
		t.Errorf("with both defaults: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}
	if base.NAT.STUN[0] != "stun:stun.example:3478" {
		t.Errorf("RelayLink changed its argument's STUN list: %q", base.NAT.STUN)
	}
	lo = RelayLink(ctx, base, w, RelayDefaults{STUN: true}, nil)
	if lo.TransitRelay != "transit.example:4001" || lo.NAT.STUN[0] != "stun:127.0.0.1:3478" {
		t.Errorf("with the user's --transit: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}
	lo = RelayLink(ctx, base, w, RelayDefaults{}, nil)
	if lo.TransitRelay != "transit.example:4001" || lo.NAT.STUN[0] != "stun:stun.example:3478" {
		t.Errorf("with neither default: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}
	if got := both.ClassicRelay(ctx, w, "transit.example:4001"); got != "127.0.0.1:4001" {
		t.Errorf("ClassicRelay = %q, want the node's", got)
	}
	if got := (RelayDefaults{}).ClassicRelay(ctx, w, "transit.example:4001"); got != "transit.example:4001" {
		t.Errorf("ClassicRelay without the default = %q, want the user's", got)
	}

	sender := Transports{Relays: []string{"192.0.2.9:4001", "192.0.2.10:4001"}}
	lo = RelayLink(ctx, base, w, both, &sender)
	if lo.TransitRelay != "192.0.2.9:4001" || lo.NAT.STUN[0] != "stun:127.0.0.1:3478" {
		t.Errorf("receiver, sender offers an address: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}
	lo.Transport = TransportRelay
	l := &Link{opts: lo}
	if got := l.relays(sender); !slices.Equal(got, []string{"192.0.2.9:4001", "192.0.2.10:4001"}) {
		t.Errorf("receiver dials %q, want the sender's relays, each once", got)
	}
	named := Transports{Relays: []string{"node1.example:4001"}}
	if lo = RelayLink(ctx, base, w, both, &named); lo.TransitRelay != "127.0.0.1:4001" {
		t.Errorf("receiver, sender offers a name: transit %q, want its own node's", lo.TransitRelay)
	}
	if lo = RelayLink(ctx, base, w, RelayDefaults{}, &sender); lo.TransitRelay != "transit.example:4001" {
		t.Errorf("receiver with its user's --transit: transit %q", lo.TransitRelay)
	}

	// a node that names nothing leaves the defaults
	w = dialWelcome(t, relay.Config{})
	if lo = RelayLink(ctx, base, w, both, nil); lo.TransitRelay != "transit.example:4001" || lo.NAT.STUN[0] != "stun:stun.example:3478" {
		t.Errorf("a node without services: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}
}

// TestRelayServicesScope: a welcome may name no address more local than
// its relay (by address, by name, or by a name that also resolves to a
// public one), nor one that cannot be dialled.
func TestRelayServicesScope(t *testing.T) {
	hosts := map[string][]netip.Addr{
		"lan.example":    {netip.MustParseAddr("10.1.2.3")},
		"mixed.example":  {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("203.0.113.5")},
		"public.example": {netip.MustParseAddr("2001:db8::5")},
	}
	d := RelayDefaults{Transit: true, Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		if ips, ok := hosts[host]; ok {
			return ips, nil
		}
		return nil, errors.New("no such host")
	}}
	ctx := context.Background()
	for _, c := range []struct {
		addr  string
		floor int
		want  string
	}{
		{"127.0.0.1:4001", scopeLoopback, "127.0.0.1:4001"},
		{"127.0.0.1:4001", scopeLocal, ""},
		{"10.1.2.3:4001", scopeLocal, "10.1.2.3:4001"},
		{"10.1.2.3:4001", scopePublic, ""},
		{"[::ffff:10.1.2.3]:4001", scopePublic, ""},
		{"169.254.1.1:4001", scopePublic, ""},
		{"100.64.0.1:4001", scopePublic, ""},
		{"[fd00::1]:4001", scopePublic, ""},
		{"[::1]:4001", scopeLocal, ""},
		{"203.0.113.5:4001", scopePublic, "203.0.113.5:4001"},
		{"0.0.0.0:4001", scopeLoopback, ""},
		{"[::]:4001", scopeLoopback, ""},
		{"224.0.0.1:4001", scopeLoopback, ""},
		{"255.255.255.255:4001", scopeLoopback, ""},
		{"lan.example:4001", scopePublic, ""},
		{"lan.example:4001", scopeLocal, "10.1.2.3:4001"},
		{"mixed.example:4001", scopePublic, "203.0.113.5:4001"},    // IPv4 first, never the loopback one
		{"mixed.example:4001", scopeLoopback, "127.0.0.1:4001"},    // a relay on loopback
		{"public.example:4001", scopePublic, "[2001:db8::5]:4001"}, // IPv6 when that is all
		{"nowhere.example:4001", scopeLoopback, ""},                // does not resolve
	} {
		if got := d.resolve(ctx, c.addr, c.floor); got != c.want {
			t.Errorf("resolve(%q, scope %d) = %q, want %q", c.addr, c.floor, got, c.want)
		}
	}
	for host, want := range map[string]int{"127.0.0.1": scopeLoopback, "lan.example": scopeLocal,
		"mixed.example": scopeLoopback, "public.example": scopePublic, "nowhere.example": scopePublic} {
		if got := d.scopeOf(ctx, host); got != want {
			t.Errorf("scopeOf(%q) = %d, want %d", host, got, want)
		}
	}
}

// servedRelay is a real relay with cfg on loopback: its URL, and what
// stops it (every connection drops; safe to call twice).
func servedRelay(t *testing.T, cfg relay.Config) (string, func()) {
	t.Helper()
	s, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	var once sync.Once
	kill := func() {
		once.Do(func() {
			cancel()
			<-done
			s.Close()
		})
	}
	t.Cleanup(kill)
	return "ws://" + ln.Addr().String() + "/v1", kill
}

// TestRelayLinkAfterFailover: two sides meet on the first relay of a pool
// of two whose welcomes name different transit relays and STUN servers;
// the first goes away and both move to the second: a path set up after
// that (a reconnect's) uses the second node's services, not the first's;
// the receiver still takes the sender's relay when the sender offers one.
// Moved on to a third relay that names none, they use their defaults.
func TestRelayLinkAfterFailover(t *testing.T) {
	u1, kill1 := servedRelay(t, relay.Config{Transit: "127.0.0.1:4101", STUN: "127.0.0.1:3401"})
	u2, kill2 := servedRelay(t, relay.Config{Transit: "127.0.0.1:4102", STUN: "127.0.0.1:3402"})
	u3, _ := servedRelay(t, relay.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := wormhole.Config{RelayURL: u1 + "," + u2 + "," + u3, AppVersions: map[string]any{}, Reconnect: 20 * time.Second}
	var ws [2]*wormhole.Wormhole
	for i := range ws {
		w, err := wormhole.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close(context.Background(), wormhole.Happy) })
		if err := w.UseCode(ctx, "31-services-move"); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	errs := make(chan error, 2)
	for _, w := range ws {
		go func() { errs <- w.Establish(ctx) }()
	}
	for range ws {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	sender, receiver := ws[0], ws[1]
	base := LinkOptions{TransitRelay: "transit.example:4001", NAT: natconf.Config{STUN: []string{"stun:stun.example:3478"}}}
	both := RelayDefaults{Transit: true, STUN: true}
	if lo := RelayLink(ctx, base, sender, both, nil); lo.TransitRelay != "127.0.0.1:4101" || !slices.Equal(lo.NAT.STUN, []string{"stun:127.0.0.1:3401"}) {
		t.Fatalf("on the first relay: transit %q, STUN %q", lo.TransitRelay, lo.NAT.STUN)
	}

	kill1()
	if err := sender.Send(ctx, []byte("after the move")); err != nil {
		t.Fatal(err)
	}
	if got, err := receiver.Receive(ctx); err != nil || string(got) != "after the move" {
		t.Fatalf("received %q, %v", got, err)
	}
	for _, w := range ws {
		if w.RelayURL() != u2 {
			t.Fatalf("using %s after the first relay went, want %s", w.RelayURL(), u2)
		}
	}
	lo := RelayLink(ctx, base, sender, both, nil)
	if lo.TransitRelay != "127.0.0.1:4102" || !slices.Equal(lo.NAT.STUN, []string{"stun:127.0.0.1:3402"}) {
		t.Errorf("sender after the move: transit %q, STUN %q, want the second node's 127.0.0.1:4102 and stun:127.0.0.1:3402", lo.TransitRelay, lo.NAT.STUN)
	}
	if got := both.ClassicRelay(ctx, sender, "transit.example:4001"); got != "127.0.0.1:4102" {
		t.Errorf("classic relay after the move = %q, want the second node's", got)
	}
	// The receiver meets on the sender's node: the relay the sender's
	// new attempt offers, whatever node the receiver is on.
	offered := Transports{Relays: []string{lo.TransitRelay}}
	if rlo := RelayLink(ctx, base, receiver, both, &offered); rlo.TransitRelay != "127.0.0.1:4102" || rlo.NAT.STUN[0] != "stun:127.0.0.1:3402" {
		t.Errorf("receiver after the move: transit %q, STUN %q", rlo.TransitRelay, rlo.NAT.STUN)
	}
	elsewhere := Transports{Relays: []string{"192.0.2.7:4001"}}
	if rlo := RelayLink(ctx, base, receiver, both, &elsewhere); rlo.TransitRelay != "192.0.2.7:4001" {
		t.Errorf("receiver, sender on another node: transit %q, want the sender's", rlo.TransitRelay)
	}

	kill2()
	if err := sender.Send(ctx, []byte("on the third")); err != nil {
		t.Fatal(err)
	}
	if got, err := receiver.Receive(ctx); err != nil || string(got) != "on the third" {
		t.Fatalf("received %q, %v", got, err)
	}
	if sender.RelayURL() != u3 {
		t.Fatalf("using %s after the second relay went, want %s", sender.RelayURL(), u3)
	}
	if lo := RelayLink(ctx, base, sender, both, nil); lo.TransitRelay != "transit.example:4001" || lo.NAT.STUN[0] != "stun:stun.example:3478" {
		t.Errorf("on a relay that names no services: transit %q, STUN %q, want the defaults", lo.TransitRelay, lo.NAT.STUN)
	}
}
