package relay

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
)

// Addresses whose datagrams end up at an IPv4 address, or at a tunnel,
// rather than at the IPv6 host they name. (IPv4-mapped ones are judged as
// the IPv4 address they map.)
var iceEmbeddingPeers = []string{
	"::127.0.0.1", "::cb00:7109", // IPv4-compatible
	"64:ff9b::7f00:1", "64:ff9b::cb00:7109", "64:ff9b:1::7f00:1", // NAT64
	"2002:7f00:1::1", "2002:cb00:7109::1", // 6to4
	"2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
	"100::1",                               // discard-only
	"192.0.0.10", "192.0.0.170",            // IETF protocol assignments (TURN anycast, NAT64 discovery)
}

// TestICEPeerPolicyOwnAndEmbedded: a TURN server does not relay to its
// own addresses (its listening and bind addresses, this host's interface
// addresses) unless it is a loopback test relay, nor ever to IPv6 forms
// that embed an IPv4 address or lead into a tunnel. Its relay IP is
// allowed (other clients' relayed addresses), in any form: what is sent
// there goes only to its allocations (TestTURNRelayToRelay).
func TestICEPeerPolicyOwnAndEmbedded(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	var host []string
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			host = append(host, ipn.IP.String())
		}
	}
	if len(host) == 0 {
		t.Log("this host has no non-loopback address to check")
	}
	own := []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.20")}
	p := newICEPeerPolicy(netip.MustParseAddr("203.0.113.7"), own, discard)
	refuse := []string{"198.51.100.20", "::ffff:127.0.0.1", "::ffff:10.0.0.1"}
	for _, ip := range append(append(refuse, host...), iceEmbeddingPeers...) {
		if p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
			t.Errorf("public relay: peer %s allowed", ip)
		}
	}
	for _, ip := range []string{"203.0.113.7", "::ffff:203.0.113.7", "203.0.113.8", "198.51.100.21", "::ffff:198.51.100.21", "2001:db8::1", "2003::1"} {
		if !p.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
			t.Errorf("public relay: peer %s refused", ip)
		}
	}
	// A loopback relay is for tests on this host: it relays to loopback
	// (its own address included), never to the embedding forms.
	lo := newICEPeerPolicy(netip.MustParseAddr("127.0.0.1"), []netip.Addr{netip.MustParseAddr("127.0.0.1")}, discard)
	for _, ip := range iceEmbeddingPeers {
		if lo.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
			t.Errorf("loopback relay: peer %s allowed", ip)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !lo.allow(&net.UDPAddr{}, net.ParseIP(ip)) {
			t.Errorf("loopback relay: peer %s refused", ip)
		}
	}
}

// channelRefused: pion answers a ChannelBind its permission handler
// refuses with 401 (with MESSAGE-INTEGRITY, so not as a challenge).
func channelRefused(code int) bool {
	return code == int(stun.CodeUnauthorized) || code == int(stun.CodeForbidden)
}

// TestICETURNRefusesOwnAddress: wired into the server, CreatePermission
// (403) and ChannelBind for the relay's bind address are refused, also
// when sent IPv4-mapped (which an IPv4 allocation relays to the mapped
// address); so are, on an IPv6 relay, the IPv6 forms that embed IPv4. Its
// public relay address is allowed (other clients' relayed addresses:
// TestTURNRelayToRelay shows that only allocations are reached there).
func TestICETURNRefusesOwnAddress(t *testing.T) {
	cfg := turnTestConfig()
	cfg.RelayIP = "203.0.113.7"
	cfg.RelayBind = "127.0.0.1"
	s := startICETest(t, cfg)
	c := newRawTURN(t, s.TURNAddr(), "127.0.0.1", "alice", "wonderland")
	if code := c.allocate(); code != 0 {
		t.Fatalf("Allocate: error %d", code)
	}
	if code := c.permission(wireIP("203.0.113.7")); code != 0 {
		t.Errorf("CreatePermission for the relay address: %d", code)
	}
	for i, peer := range []string{"127.0.0.1", "::ffff:127.0.0.1"} {
		ip := wireIP(peer)
		if code := c.permission(ip); code != int(stun.CodeForbidden) {
			t.Errorf("CreatePermission for %s: %d, want 403", peer, code)
		}
		if code := c.channelBind(ip, 4000, 0x4000+i); !channelRefused(code) {
			t.Errorf("ChannelBind to %s: %d, want it refused", peer, code)
		}
	}
	if code := c.channelBind(wireIP("198.51.100.1"), 4000, 0x4010); code != 0 {
		t.Errorf("ChannelBind to a public peer: %d", code)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An IPv6 loopback relay refuses the IPv6 forms that embed IPv4.
	v6 := turnTestConfig()
	v6.TURNListen, v6.RelayIP = "[::1]:0", "::1"
	s6 := startICETest(t, v6)
	c6 := newRawTURN(t, s6.TURNAddr(), "::1", "alice", "wonderland")
	if code := c6.allocate(); code != 0 {
		t.Fatalf("IPv6 Allocate: error %d", code)
	}
	for i, peer := range []string{"64:ff9b::7f00:1", "2002:7f00:1::1", "::127.0.0.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"} {
		ip := wireIP(peer)
		if code := c6.permission(ip); code != int(stun.CodeForbidden) {
			t.Errorf("CreatePermission for %s: %d, want 403", peer, code)
		}
		if code := c6.channelBind(ip, 4000, 0x4000+i); !channelRefused(code) {
			t.Errorf("ChannelBind to %s: %d, want it refused", peer, code)
		}
	}
	if code := c6.permission(wireIP("::1")); code != 0 {
		t.Errorf("CreatePermission for ::1 on a loopback relay: %d", code)
	}
}

// wireIP is how an address is sent: 4 bytes for dotted IPv4, 16 for
// anything written with colons (IPv4-mapped included).
func wireIP(s string) net.IP {
	ip := net.ParseIP(s)
	if !strings.Contains(s, ":") {
		return ip.To4()
	}
	return ip
}

// rawTURN is a TURN client that sends what it is told, without the
// encoding choices of pion's client (which sends IPv4-mapped addresses as
// IPv4), on one UDP socket.
type rawTURN struct {
	t            *testing.T
	conn         net.PacketConn
	server       net.Addr
	user, pass   string
	realm, nonce stun.Setter
}

func newRawTURN(t *testing.T, server net.Addr, fromIP, user, pass string) *rawTURN {
	t.Helper()
	network := "udp4"
	if netip.MustParseAddr(fromIP).Is6() {
		network = "udp6"
	}
	conn, err := net.ListenPacket(network, net.JoinHostPort(fromIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawTURN{t: t, conn: conn, server: server, user: user, pass: pass}
}

// stunMagicCookie is the fixed value XOR addresses are masked with (RFC
// 5389).
const stunMagicCookie = 0x2112A442

// xorPeer is an XOR-PEER-ADDRESS for ip as given: 16 bytes make an IPv6
// family address, mapped or not.
type xorPeer struct {
	ip   net.IP
	port int
}

func (p xorPeer) AddTo(m *stun.Message) error {
	ip, family := p.ip.To16(), byte(2)
	if len(p.ip) == net.IPv4len {
		ip, family = p.ip, 1
	}
	v := make([]byte, 4+len(ip))
	v[1] = family
	binary.BigEndian.PutUint16(v[2:], uint16(p.port)^uint16(stunMagicCookie>>16))
	var key [16]byte
	binary.BigEndian.PutUint32(key[:4], stunMagicCookie)
	copy(key[4:], m.TransactionID[:])
	for i := range ip {
		v[4+i] = ip[i] ^ key[i]
	}
	m.Add(stun.AttrXORPeerAddress, v)
	return nil
}

// do sends a request of method with attrs, authenticated once the server
// has sent its realm and nonce, and returns the STUN error code of the
// answer (0 for success).
func (c *rawTURN) do(method stun.Method, attrs ...stun.Setter) int {
	c.t.Helper()
	for try := 0; try < 3; try++ {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		if c.nonce != nil {
			setters = append(setters, stun.NewUsername(c.user), c.realm, c.nonce,
				stun.NewLongTermIntegrity(c.user, realmOf(c.realm), c.pass))
		}
		setters = append(setters, stun.Fingerprint)
		m, err := stun.Build(setters...)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
			c.t.Fatal(err)
		}
		resp := c.read(m.TransactionID)
		if resp.Type.Class != stun.ClassErrorResponse {
			return 0
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(resp); err != nil {
			c.t.Fatalf("error response without a code: %v", resp)
		}
		if ec.Code == stun.CodeUnauthorized || ec.Code == stun.CodeStaleNonce {
			var realm stun.Realm
			var nonce stun.Nonce
			if realm.GetFrom(resp) == nil && nonce.GetFrom(resp) == nil {
				c.realm, c.nonce = realm, nonce
				continue
			}
		}
		return int(ec.Code)
	}
	c.t.Fatalf("%v: not authenticated after 3 tries", method)
	return 0
}

func realmOf(s stun.Setter) string { return string(s.(stun.Realm)) }

// read returns the answer to transaction id.
func (c *rawTURN) read(id [stun.TransactionIDSize]byte) *stun.Message {
	c.t.Helper()
	buf := make([]byte, 1500)
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no answer from the TURN server: %v", err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() == nil && m.TransactionID == id {
			return m
		}
	}
}

func (c *rawTURN) allocate() int {
	return c.do(stun.MethodAllocate, stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}})
}

func (c *rawTURN) permission(ip net.IP) int {
	return c.do(stun.MethodCreatePermission, xorPeer{ip, 0})
}

func (c *rawTURN) channelBind(ip net.IP, port, number int) int {
	if number < 0x4000 || number > 0x4fff {
		panic(fmt.Sprint("channel number ", number))
	}
	return c.do(stun.MethodChannelBind,
		stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(number >> 8), byte(number), 0, 0}},
		xorPeer{ip, port})
}
