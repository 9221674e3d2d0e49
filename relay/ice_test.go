package relay

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the TURN REST API convention
	"encoding/base64"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

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
