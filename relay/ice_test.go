package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API convention
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// iceTestLogger logs to stderr when FERRY_TEST_LOG is set (pion goroutines
// may log after a test ends, so not through t.Log).
func iceTestLogger() *slog.Logger {
	if os.Getenv("FERRY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: iceLevelTrace}))
}

func startICETest(t *testing.T, cfg ICEConfig) *ICEServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = iceTestLogger()
	}
	s, err := StartICE(context.Background(), cfg)
	if err != nil {
		t.Fatalf("StartICE: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// turnTestConfig is a loopback TURN server with a static credential.
func turnTestConfig() ICEConfig {
	return ICEConfig{
		TURNListen: "127.0.0.1:0",
		RelayIP:    "127.0.0.1",
		User:       "alice",
		Password:   "wonderland",
	}
}

func listenUDP(t *testing.T, ip string) net.PacketConn {
	t.Helper()
	var lc net.ListenConfig
	c, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newTURNClient returns a started TURN client on a fresh socket on fromIP.
func newTURNClient(t *testing.T, server net.Addr, fromIP, user, pass string) *turn.Client {
	t.Helper()
	c, _ := newTURNClientConn(t, server, fromIP, user, pass)
	return c
}

// newTURNClientConn is newTURNClient, also returning the client's socket.
func newTURNClientConn(t *testing.T, server net.Addr, fromIP, user, pass string) (*turn.Client, net.PacketConn) {
	t.Helper()
	conn := listenUDP(t, fromIP)
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		LoggerFactory:  iceLogFactory{orICEDiscard(iceTestLogger())},
	})
	if err != nil {
		t.Fatalf("turn.NewClient: %v", err)
	}
	if err := c.Listen(); err != nil {
		t.Fatalf("turn client Listen: %v", err)
	}
	t.Cleanup(c.Close)
	return c, conn
}

func orICEDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// allocate allocates a relay with a fresh client and returns its relay
// socket (closed at cleanup), or the error.
func allocate(t *testing.T, server net.Addr, fromIP, user, pass string) (net.PacketConn, error) {
	t.Helper()
	c := newTURNClient(t, server, fromIP, user, pass)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relay, err := c.AllocateWithContext(ctx)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = relay.Close() })
	return relay, nil
}

// turnErrorCode is the STUN error code of a refused TURN request, or 0.
func turnErrorCode(err error) stun.ErrorCode {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return te.ErrorCodeAttr.Code
	}
	return 0
}

func readWithin(t *testing.T, c net.PacketConn, d time.Duration) ([]byte, net.Addr) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read on %v: %v", c.LocalAddr(), err)
	}
	return buf[:n], from
}

func sameUDPAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	return ok1 && ok2 && ua.IP.Equal(ub.IP) && ua.Port == ub.Port
}

func TestICESTUNBinding(t *testing.T) {
	s := startICETest(t, ICEConfig{STUNListen: "127.0.0.1:0"})
	if s.TURNAddr() != nil {
		t.Errorf("TURNAddr = %v without a TURN server", s.TURNAddr())
	}
	if p := s.STUNAddr().(*net.UDPAddr).Port; p == 0 {
		t.Fatalf("STUNAddr %v has no port", s.STUNAddr())
	}

	c := listenUDP(t, "127.0.0.1")
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.WriteTo(req.Raw, s.STUNAddr()); err != nil {
		t.Fatal(err)
	}
	raw, from := readWithin(t, c, 5*time.Second)
	if !sameUDPAddr(from, s.STUNAddr()) {
		t.Errorf("response from %v, want %v", from, s.STUNAddr())
	}
	res := &stun.Message{Raw: raw}
	if err := res.Decode(); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	if res.Type != stun.BindingSuccess || res.TransactionID != req.TransactionID {
		t.Fatalf("response %v (tx %x), want binding success (tx %x)", res.Type, res.TransactionID, req.TransactionID)
	}
	var mapped stun.XORMappedAddress
	if err := mapped.GetFrom(res); err != nil {
		t.Fatalf("XOR-MAPPED-ADDRESS: %v", err)
	}
	if !sameUDPAddr(&net.UDPAddr{IP: mapped.IP, Port: mapped.Port}, c.LocalAddr()) {
		t.Errorf("XOR-MAPPED-ADDRESS %v, want the client's %v", mapped, c.LocalAddr())
	}

	// The STUN-only server allocates nothing, whatever the credentials:
	// an Allocate is answered 401 with a nonce, and the authenticated retry
	// 400 (pion's TURN client ignores that unauthenticated answer and times
	// out, hence the raw requests).
	allocType := stun.NewType(stun.MethodAllocate, stun.ClassRequest)
	udpTransport := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
	res = stunRoundTrip(t, c, s.STUNAddr(), stun.TransactionID, allocType, udpTransport, stun.Fingerprint)
	var nonce stun.Nonce
	var realm stun.Realm
	if res.Type.Class != stun.ClassErrorResponse || nonce.GetFrom(res) != nil || realm.GetFrom(res) != nil {
		t.Fatalf("unauthenticated Allocate answered %v", res)
	}
	res = stunRoundTrip(t, c, s.STUNAddr(), stun.TransactionID, allocType, udpTransport,
		stun.NewUsername("alice"), realm, nonce,
		stun.NewLongTermIntegrity("alice", realm.String(), "wonderland"), stun.Fingerprint)
	var code stun.ErrorCodeAttribute
	if res.Type.Class != stun.ClassErrorResponse || code.GetFrom(res) != nil || code.Code != stun.CodeBadRequest {
		t.Errorf("authenticated Allocate answered %v (%v), want 400", res, code)
	}
}

// stunRoundTrip sends a STUN request built from setters on c and returns
// the response.
func stunRoundTrip(t *testing.T, c net.PacketConn, to net.Addr, setters ...stun.Setter) *stun.Message {
	t.Helper()
	req, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(req.Raw, to); err != nil {
		t.Fatal(err)
	}
	for {
		raw, _ := readWithin(t, c, 5*time.Second)
		res := &stun.Message{Raw: raw}
		if err := res.Decode(); err != nil {
			t.Fatalf("decode response: %v", err)
		}
		if res.TransactionID == req.TransactionID {
			return res
		}
	}
}

func TestICETURNStatic(t *testing.T) {
	s := startICETest(t, turnTestConfig())
	client, conn := newTURNClientConn(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")

	// The TURN port answers STUN too.
	mapped, err := client.SendBindingRequest()
	if err != nil {
		t.Fatalf("binding request to TURN: %v", err)
	}
	if !sameUDPAddr(mapped, conn.LocalAddr()) {
		t.Errorf("mapped address %v, want the client's %v", mapped, conn.LocalAddr())
	}

	relay, err := client.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	raddr := relay.LocalAddr().(*net.UDPAddr)
	if !raddr.IP.Equal(net.IPv4(127, 0, 0, 1)) || raddr.Port == 0 {
		t.Fatalf("relayed address %v, want 127.0.0.1:port", raddr)
	}
	if n := s.relays.count(); n != 1 {
		t.Errorf("%d relay sockets, want 1", n)
	}

	peer := listenUDP(t, "127.0.0.1")
	if _, err := relay.WriteTo([]byte("hello peer"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay WriteTo: %v", err)
	}
	got, from := readWithin(t, peer, 5*time.Second)
	if string(got) != "hello peer" {
		t.Errorf("peer got %q", got)
	}
	if !sameUDPAddr(from, raddr) {
		t.Errorf("peer got it from %v, want the relayed address %v", from, raddr)
	}

	if _, err := peer.WriteTo([]byte("hello client"), raddr); err != nil {
		t.Fatal(err)
	}
	got, from = readWithin(t, relay, 5*time.Second)
	if string(got) != "hello client" {
		t.Errorf("client got %q", got)
	}
	if !sameUDPAddr(from, peer.LocalAddr()) {
		t.Errorf("client got it from %v, want the peer %v", from, peer.LocalAddr())
	}

	// Close closes the relay sockets at once.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.relays.count(); n != 0 {
		t.Errorf("%d relay sockets left after Close", n)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), "udp4", raddr.String())
	if err != nil {
		t.Errorf("relay port still bound after Close: %v", err)
	} else {
		pc.Close()
	}
}

func TestICETURNSharedSecret(t *testing.T) {
	const secret = "correct horse battery staple"
	cfg := turnTestConfig()
	cfg.SharedSecret = secret
	s := startICETest(t, cfg)
	now := time.Now()

	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{name: "static user still works", user: "alice", pass: "wonderland", ok: true},
		{name: "minted with name", ok: true},
		{name: "minted without name", ok: true},
		{name: "expired", ok: false},
		{name: "wrong password", ok: false},
		{name: "minted from another secret", ok: false},
		{name: "unknown static user", user: "mallory", pass: "wonderland", ok: false},
		{name: "static user wrong password", user: "alice", pass: "looking-glass", ok: false},
		{name: "malformed expiry", ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch tc.name {
			case "minted with name":
				tc.user, tc.pass = TURNCredentials(secret, "bob", time.Hour, now)
			case "minted without name":
				tc.user, tc.pass = TURNCredentials(secret, "", time.Minute, now)
			case "expired":
				tc.user, tc.pass = TURNCredentials(secret, "bob", -time.Second, now)
			case "wrong password":
				tc.user, _ = TURNCredentials(secret, "bob", time.Hour, now)
				tc.pass = "not-the-password"
			case "minted from another secret":
				tc.user, tc.pass = TURNCredentials("another secret", "bob", time.Hour, now)
			case "malformed expiry":
				tc.user = "+" + strconv.FormatInt(now.Add(time.Hour).Unix(), 10) + ":bob"
				tc.pass = turnRESTPassword(secret, tc.user)
			}
			relay, err := allocate(t, s.TURNAddr(), "127.0.0.1", tc.user, tc.pass)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("user %q refused: %v", tc.user, err)
			case !tc.ok && err == nil:
				t.Fatalf("user %q allocated %v", tc.user, relay.LocalAddr())
			case !tc.ok && turnErrorCode(err) != stun.CodeUnauthorized:
				t.Errorf("user %q: error %v, want 401 Unauthorized", tc.user, err)
			}
		})
	}
}

func TestTURNCredentials(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	user, pass := TURNCredentials("s3cret", "bob", time.Hour, now)
	if user != "1700003600:bob" {
		t.Errorf("user %q, want 1700003600:bob", user)
	}
	mac := hmac.New(sha1.New, []byte("s3cret"))
	mac.Write([]byte("1700003600:bob"))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); pass != want {
		t.Errorf("pass %q, want %q", pass, want)
	}
	if user, _ := TURNCredentials("s3cret", "", 90*time.Second, now); user != "1700000090" {
		t.Errorf("nameless user %q, want 1700000090", user)
	}

	a := &iceAuth{realm: "ferry", secret: "s3cret", log: slog.New(slog.DiscardHandler)}
	ask := func(user, realm string, at time.Time) bool {
		a.now = func() time.Time { return at }
		_, _, ok := a.handle(&turn.RequestAttributes{Username: user, Realm: realm, SrcAddr: &net.UDPAddr{}})
		return ok
	}
	exp := now.Add(time.Hour)
	switch {
	case !ask(user, "ferry", now):
		t.Error("fresh credential refused")
	case !ask(user, "ferry", exp.Add(-time.Second)):
		t.Error("credential refused a second before expiry")
	case ask(user, "ferry", exp):
		t.Error("credential accepted at its expiry")
	case ask(user, "elsewhere", now):
		t.Error("credential accepted in another realm")
	}
	for _, bad := range []string{"", ":bob", "bob", "-1700003600:bob", "+1700003600", "17000036 00", "0x65", "99999999999999999999:bob"} {
		if ask(bad, "ferry", now) {
			t.Errorf("malformed username %q accepted", bad)
		}
	}
}

func TestICEAllocationCap(t *testing.T) {
	cfg := turnTestConfig()
	cfg.MaxAllocationsPerIP = 2
	s := startICETest(t, cfg)

	first, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	if err != nil {
		t.Fatalf("allocation 1: %v", err)
	}
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Fatalf("allocation 2: %v", err)
	}
	relay, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	if err == nil {
		t.Fatalf("allocation 3 from the same address got %v", relay.LocalAddr())
	}
	if code := turnErrorCode(err); code != stun.CodeAllocQuotaReached {
		t.Errorf("allocation 3: %v, want 486 Allocation Quota Reached", err)
	}

	// Another address has its own quota.
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.2", "alice", "wonderland"); err != nil {
		t.Errorf("allocation from 127.0.0.2: %v", err)
	}

	// Releasing an allocation frees its slot.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.quota.used("127.0.0.1:1") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("127.0.0.1 still holds %d allocations after closing one", s.quota.used("127.0.0.1:1"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Errorf("allocation after releasing one: %v", err)
	}
}

func TestICEAllocationCapTotal(t *testing.T) {
	cfg := turnTestConfig()
	cfg.MaxAllocations = 1
	s := startICETest(t, cfg)
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Fatalf("allocation 1: %v", err)
	}
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.2", "alice", "wonderland"); turnErrorCode(err) != stun.CodeAllocQuotaReached {
		t.Errorf("allocation beyond MaxAllocations: %v, want 486", err)
	}
}

func TestICEPeerPolicy(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	always := []string{
		"0.0.0.0", "::", "0.1.2.3", // unspecified, "this network"
		"224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1", // multicast
		"255.255.255.255", "240.0.0.1", // broadcast, reserved
		"169.254.169.254", "fe80::1", // link-local (cloud metadata)
	}
	for _, tc := range []struct {
		relayIP       string
		allow, refuse []string
	}{
		{
			relayIP: "127.0.0.1",
			allow:   []string{"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "10.1.2.3", "192.168.1.20", "203.0.113.9", "2001:db8::1"},
			refuse:  always,
		},
		{
			relayIP: "203.0.113.7",
			allow:   []string{"203.0.113.7", "198.51.100.1", "2001:db8::1"},
			refuse: append([]string{
				"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1",
				"10.1.2.3", "172.16.0.1", "192.168.1.20", "100.64.0.1", "fd00::1", "::ffff:192.168.1.1",
			}, always...),
		},
		{
			relayIP: "192.168.1.2",
			allow:   []string{"192.168.1.20", "10.1.2.3", "fd00::1", "203.0.113.9"},
			refuse:  append([]string{"127.0.0.1", "::1"}, always...),
		},
	} {
		p := newICEPeerPolicy(netip.MustParseAddr(tc.relayIP), discard)
		for _, ip := range tc.allow {
			if !p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
				t.Errorf("relay IP %s: peer %s refused", tc.relayIP, ip)
			}
		}
		for _, ip := range tc.refuse {
			if p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
				t.Errorf("relay IP %s: peer %s allowed", tc.relayIP, ip)
			}
		}
	}
	p := newICEPeerPolicy(netip.MustParseAddr("127.0.0.1"), discard)
	for b := range p.broadcast {
		if p.allowed(net.IP(b.AsSlice())) {
			t.Errorf("interface broadcast address %s allowed", b)
		}
	}
	if p.allowed(nil) {
		t.Error("nil peer allowed")
	}
}

// The permission policy is wired into the server: CreatePermission for a
// forbidden peer is refused. (No data is sent, so nothing leaves loopback.)
func TestICETURNRefusesPeers(t *testing.T) {
	s := startICETest(t, turnTestConfig())
	c := newTURNClient(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	relay, err := c.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay.Close()
	for _, ip := range []string{"0.0.0.0", "224.0.0.1", "255.255.255.255", "169.254.169.254"} {
		err := c.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9})
		if err == nil {
			t.Errorf("permission for %s granted", ip)
		}
	}
	if err := c.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}); err != nil {
		t.Errorf("permission for loopback refused with a loopback relay IP: %v", err)
	}

	// A relay with a public RelayIP (bound to loopback here) refuses
	// loopback and private peers, and advertises RelayIP.
	cfg := turnTestConfig()
	cfg.RelayIP = "203.0.113.7"
	cfg.RelayBind = "127.0.0.1"
	s2 := startICETest(t, cfg)
	c2 := newTURNClient(t, s2.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	relay2, err := c2.Allocate()
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	defer relay2.Close()
	if ip := relay2.LocalAddr().(*net.UDPAddr).IP; !ip.Equal(net.ParseIP("203.0.113.7")) {
		t.Errorf("relayed address %v, want RelayIP 203.0.113.7", relay2.LocalAddr())
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1"} {
		if err := c2.CreatePermission(&net.UDPAddr{IP: net.ParseIP(ip), Port: 9}); err == nil {
			t.Errorf("public relay granted a permission for %s", ip)
		}
	}
	if err := c2.CreatePermission(&net.UDPAddr{IP: net.ParseIP("198.51.100.1"), Port: 9}); err != nil {
		t.Errorf("public relay refused a public peer: %v", err)
	}
}

func TestICETCPRelayRefused(t *testing.T) {
	r := newICERelays(netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.1"))
	if _, _, err := r.AllocateListener(turn.AllocateListenerConfig{Network: "tcp4"}); err == nil {
		t.Error("TCP relay listener allocated")
	}
	if _, err := r.AllocateConn(turn.AllocateConnConfig{Network: "tcp4"}); err == nil {
		t.Error("TCP relay connection allowed")
	}
	if _, _, err := r.AllocatePacketConn(turn.AllocateListenerConfig{Network: "udp6"}); err == nil {
		t.Error("IPv6 relay allocated for an IPv4 relay IP")
	}
}

func TestStartICEConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ICEConfig
		want error
		msg  string
	}{
		{"TURN without credentials", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1"}, ErrTURNNoCredentials, "credentials"},
		{"user without password", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", User: "alice"}, ErrBadICEConfig, "password"},
		{"password without user", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", Password: "x", SharedSecret: "s"}, ErrBadICEConfig, "password"},
		{"no relay IP", ICEConfig{TURNListen: "127.0.0.1:0", SharedSecret: "s"}, ErrBadICEConfig, "RelayIP"},
		{"bad relay IP", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "relay.example", SharedSecret: "s"}, ErrBadICEConfig, "relay.example"},
		{"unspecified relay IP", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "0.0.0.0", SharedSecret: "s"}, ErrBadICEConfig, "0.0.0.0"},
		{"bind family", ICEConfig{TURNListen: "127.0.0.1:0", RelayIP: "127.0.0.1", RelayBind: "::1", SharedSecret: "s"}, ErrBadICEConfig, "family"},
		{"nothing to serve", ICEConfig{}, ErrBadICEConfig, "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := StartICE(context.Background(), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("StartICE succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}

	// A port in use is reported, and nothing is left running.
	busy := listenUDP(t, "127.0.0.1")
	cfg := turnTestConfig()
	cfg.STUNListen = "127.0.0.1:0"
	cfg.TURNListen = busy.LocalAddr().String()
	if s, err := StartICE(context.Background(), cfg); err == nil {
		s.Close()
		t.Error("StartICE on a busy port succeeded")
	}
}

func TestICEContextStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := turnTestConfig()
	cfg.STUNListen = "127.0.0.1:0"
	cfg.Logger = iceTestLogger()
	s, err := StartICE(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := allocate(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland"); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	cancel()
	var lc net.ListenConfig
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range []net.Addr{s.STUNAddr(), s.TURNAddr()} {
		for {
			pc, err := lc.ListenPacket(context.Background(), "udp4", a.String())
			if err == nil {
				pc.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v still bound after the context ended", a)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for s.relays.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d relay sockets left after the context ended", s.relays.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two ICE agents that may use only relay candidates connect through the
// TURN server.
func TestICEAgentsRelayOnly(t *testing.T) {
	const secret = "agents"
	cfg := turnTestConfig()
	cfg.SharedSecret = secret
	s := startICETest(t, cfg)
	port := s.TURNAddr().(*net.UDPAddr).Port

	newAgent := func(name string) *ice.Agent {
		user, pass := TURNCredentials(secret, name, time.Hour, time.Now())
		ag, err := ice.NewAgentWithOptions(
			ice.WithUrls([]*stun.URI{{
				Scheme:   stun.SchemeTypeTURN,
				Host:     "127.0.0.1",
				Port:     port,
				Proto:    stun.ProtoTypeUDP,
				Username: user,
				Password: pass,
			}}),
			ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
			ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeRelay}),
			ice.WithIncludeLoopback(),
			ice.WithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }),
			ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
			ice.WithRelayAcceptanceMinWait(0),
			ice.WithLoggerFactory(iceLogFactory{orICEDiscard(iceTestLogger()).With("agent", name)}),
		)
		if err != nil {
			t.Fatalf("NewAgent %s: %v", name, err)
		}
		t.Cleanup(func() { _ = ag.Close() })
		return ag
	}
	a, b := newAgent("a"), newAgent("b")

	var mu sync.Mutex
	var gathered []ice.Candidate
	trickle := func(from, to *ice.Agent) {
		err := from.OnCandidate(func(c ice.Candidate) {
			if c == nil {
				return
			}
			mu.Lock()
			gathered = append(gathered, c)
			mu.Unlock()
			rc, err := ice.UnmarshalCandidate(c.Marshal())
			if err != nil {
				t.Errorf("unmarshal candidate %s: %v", c, err)
				return
			}
			if err := to.AddRemoteCandidate(rc); err != nil {
				t.Errorf("AddRemoteCandidate %s: %v", c, err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	trickle(a, b)
	trickle(b, a)
	if err := a.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	if err := b.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	aUfrag, aPwd, err := a.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	bUfrag, bPwd, err := b.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	type result struct {
		conn *ice.Conn
		err  error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := b.Accept(ctx, aUfrag, aPwd)
		accepted <- result{c, err}
	}()
	ca, err := a.Dial(ctx, bUfrag, bPwd)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-accepted
	if r.err != nil {
		t.Fatalf("Accept: %v", r.err)
	}
	cb := r.conn

	if _, err := ca.Write([]byte("ferry ahoy")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := cb.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := cb.Read(buf)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := string(buf[:n]); got != "ferry ahoy" {
		t.Errorf("got %q", got)
	}

	for name, ag := range map[string]*ice.Agent{"a": a, "b": b} {
		pair, err := ag.GetSelectedCandidatePair()
		if err != nil || pair == nil {
			t.Fatalf("agent %s: no selected pair (%v)", name, err)
		}
		if pair.Local.Type() != ice.CandidateTypeRelay || pair.Remote.Type() != ice.CandidateTypeRelay {
			t.Errorf("agent %s selected %s", name, pair)
		}
		if pair.Local.Address() != "127.0.0.1" {
			t.Errorf("agent %s: local relay candidate at %s, want 127.0.0.1", name, pair.Local.Address())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gathered) == 0 {
		t.Error("no candidates gathered")
	}
	for _, c := range gathered {
		if c.Type() != ice.CandidateTypeRelay {
			t.Errorf("gathered a %s candidate %s", c.Type(), c)
		}
	}
	if n := s.quota.used("127.0.0.1:1"); n != 2 {
		t.Errorf("%d allocations counted for 127.0.0.1, want the agents' 2", n)
	}
}
