package nat

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"
)

// The virtual internet: a WAN router with a STUN/TURN server at serverIP,
// and LAN routers with NATs in front of the peers.
const (
	serverIP   = "1.2.3.4"
	serverPort = 3478
	turnUser   = "ferry"
	turnPass   = "secret"
	turnRealm  = "ferry.test"
)

// fullCone maps and filters independently of the destination: once a
// socket has sent anything, anyone can reach it through its mapping.
func fullCone() *vnet.NATType {
	return &vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
}

// symmetric maps each destination to a new public port and lets in only
// replies from that destination.
func symmetric() *vnet.NATType {
	return &vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
}

type world struct {
	tb  testing.TB
	wan *vnet.Router
}

// newWorld starts a WAN router with a pion TURN server (which also answers
// STUN) on it.
func newWorld(tb testing.TB) *world {
	tb.Helper()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", LoggerFactory: pionLogs{orDiscard(testLogger())}})
	if err != nil {
		tb.Fatalf("wan router: %v", err)
	}
	wanNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{serverIP}})
	if err != nil {
		tb.Fatalf("wan net: %v", err)
	}
	if err := wan.AddNet(wanNet); err != nil {
		tb.Fatalf("wan add net: %v", err)
	}
	w := &world{tb: tb, wan: wan}
	// Routers must all be added before the WAN starts: start lazily.
	tb.Cleanup(func() { _ = wan.Stop() })
	w.startServer(wanNet)
	return w
}

func (w *world) startServer(wanNet *vnet.Net) {
	pc, err := wanNet.ListenPacket("udp4", fmt.Sprintf("%s:%d", serverIP, serverPort))
	if err != nil {
		w.tb.Fatalf("server listen: %v", err)
	}
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:         turnRealm,
		LoggerFactory: pionLogs{orDiscard(testLogger())},
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			if ra.Username != turnUser {
				return "", nil, false
			}
			return ra.Username, key, true
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP(serverIP),
				Address:      "0.0.0.0",
				Net:          wanNet,
			},
		}},
	})
	if err != nil {
		w.tb.Fatalf("turn server: %v", err)
	}
	w.tb.Cleanup(func() { _ = srv.Close() })
}

// lan adds a router with the given public IP, LAN prefix and NAT, and one
// Net per local IP behind it.
func (w *world) lan(publicIP, cidr string, nat *vnet.NATType, localIPs ...string) []*vnet.Net {
	w.tb.Helper()
	r, err := vnet.NewRouter(&vnet.RouterConfig{
		StaticIPs:     []string{publicIP},
		CIDR:          cidr,
		NATType:       nat,
		LoggerFactory: pionLogs{orDiscard(testLogger())},
	})
	if err != nil {
		w.tb.Fatalf("lan router: %v", err)
	}
	nets := make([]*vnet.Net, 0, len(localIPs))
	for _, ip := range localIPs {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			w.tb.Fatalf("lan net: %v", err)
		}
		if err := r.AddNet(n); err != nil {
			w.tb.Fatalf("lan add net: %v", err)
		}
		nets = append(nets, n)
	}
	if err := w.wan.AddRouter(r); err != nil {
		w.tb.Fatalf("wan add router: %v", err)
	}
	return nets
}

func (w *world) start() {
	if err := w.wan.Start(); err != nil {
		w.tb.Fatalf("start wan: %v", err)
	}
}

func stunURL() string { return fmt.Sprintf("stun:%s:%d", serverIP, serverPort) }

func turnServer() TURNServer {
	return TURNServer{URL: fmt.Sprintf("turn:%s:%d?transport=udp", serverIP, serverPort), Username: turnUser, Password: turnPass}
}

// runVNet connects an agent on netA (controlling) with one on netB, checks
// the selected pair types on both sides with check, and moves data through
// a QUIC stream over the selected pair both ways.
func runVNet(t *testing.T, cfgA, cfgB Config, check func(t *testing.T, aLocal, aRemote, bLocal, bRemote CandidateType)) {
	t.Helper()
	ctx := testContext(t, 40*time.Second)
	a := newTestAgent(t, cfgA)
	b := newTestAgent(t, cfgB)
	pcA, pcB := connectAgents(t, ctx, a, b)
	aL, aR := a.SelectedPair()
	bL, bR := b.SelectedPair()
	t.Logf("selected pairs: A %s->%s (%s->%s), B %s->%s (%s->%s)",
		aL, aR, pcA.LocalAddr(), pcA.RemoteAddr(), bL, bR, pcB.LocalAddr(), pcB.RemoteAddr())
	check(t, aL, aR, bL, bR)
	sA, sB := quicPair(t, ctx, pcA, pcB)
	// QUIC drives the socket of a host or server-reflexive local
	// candidate, and goes through the ICE connection for a relayed one.
	if sA.OnSocket() != (aL != Relay) || sB.OnSocket() != (bL != Relay) {
		t.Errorf("QUIC on the socket: A %v (local %s), B %v (local %s); want it unless relayed",
			sA.OnSocket(), aL, sB.OnSocket(), bL)
	}
	transfer(t, sA, sB, 1<<20)
	// The pair must not have changed under the transfer.
	if l, r := a.SelectedPair(); l != aL || r != aR {
		t.Errorf("A's pair changed to %s/%s during the transfer", l, r)
	}
}

func TestVNetFullConeNATs(t *testing.T) {
	w := newWorld(t)
	netA := w.lan("27.1.1.1", "192.168.0.0/24", fullCone(), "192.168.0.10")[0]
	netB := w.lan("28.1.1.1", "10.2.0.0/24", fullCone(), "10.2.0.10")[0]
	w.start()
	cfg := func(n *vnet.Net) Config { return Config{Net: n, STUN: []string{stunURL()}} }
	runVNet(t, cfg(netA), cfg(netB), func(t *testing.T, aL, aR, bL, bR CandidateType) {
		t.Helper()
		// A's host socket reaches B's public addresses (a full cone lets
		// anyone in) and so does B's; each learns the mapping of the
		// other's sockets from the checks: peer-reflexive candidates, which
		// outrank srflx. A picks its host socket, the best local candidate.
		// Which of B's sockets (host, or the one it asked STUN from) it
		// pairs with is a tie in priority, so B's local type may be either.
		if aL != Host || aR != PeerReflexive || !oneOf(bL, Host, ServerReflexive) || bR != PeerReflexive {
			t.Fatalf("pairs A %s/%s, B %s/%s; want host/prflx and host-or-srflx/prflx", aL, aR, bL, bR)
		}
	})
}

// TestVNetFullConeAndSymmetricNAT has B behind a symmetric NAT, which only
// lets in replies from where B sent to: the one way through is B writing to
// A's server-reflexive address, and A answering from that socket.
func TestVNetFullConeAndSymmetricNAT(t *testing.T) {
	w := newWorld(t)
	netA := w.lan("27.1.1.1", "192.168.0.0/24", fullCone(), "192.168.0.10")[0]
	netB := w.lan("28.1.1.1", "10.2.0.0/24", symmetric(), "10.2.0.10")[0]
	w.start()
	cfg := func(n *vnet.Net) Config { return Config{Net: n, STUN: []string{stunURL()}} }
	runVNet(t, cfg(netA), cfg(netB), func(t *testing.T, aL, aR, bL, bR CandidateType) {
		t.Helper()
		// Only A's server-reflexive address is reachable; B may reach it
		// from either of its sockets (a tie, as above).
		if aL != ServerReflexive || aR != PeerReflexive || !oneOf(bL, Host, ServerReflexive) || bR != ServerReflexive {
			t.Fatalf("pairs A %s/%s, B %s/%s; want srflx/prflx and host-or-srflx/srflx", aL, aR, bL, bR)
		}
	})
}

// TestVNetFullConeNoSTUN checks that the NATs are real: without a STUN
// server to learn public addresses from, the peers cannot connect.
func TestVNetFullConeNoSTUN(t *testing.T) {
	w := newWorld(t)
	netA := w.lan("27.1.1.1", "192.168.0.0/24", fullCone(), "192.168.0.10")[0]
	netB := w.lan("28.1.1.1", "10.2.0.0/24", fullCone(), "10.2.0.10")[0]
	w.start()
	a := newTestAgent(t, Config{Net: netA})
	b := newTestAgent(t, Config{Net: netB})
	_, _ = trickle(t, a, b), trickle(t, b, a)
	ctx := testContext(t, 3*time.Second)
	go func() { _, _ = b.Connect(ctx, false) }()
	if pc, err := a.Connect(ctx, true); err == nil {
		l, r := a.SelectedPair()
		t.Fatalf("connected through NATs without STUN: %s/%s %s->%s", l, r, pc.LocalAddr(), pc.RemoteAddr())
	}
}

func TestVNetSymmetricNATsRelay(t *testing.T) {
	w := newWorld(t)
	netA := w.lan("27.1.1.1", "192.168.0.0/24", symmetric(), "192.168.0.10")[0]
	netB := w.lan("28.1.1.1", "10.2.0.0/24", symmetric(), "10.2.0.10")[0]
	w.start()
	cfg := func(n *vnet.Net) Config {
		return Config{Net: n, STUN: []string{stunURL()}, TURN: []TURNServer{turnServer()}}
	}
	runVNet(t, cfg(netA), cfg(netB), func(t *testing.T, aL, aR, bL, bR CandidateType) {
		t.Helper()
		if aL != Relay && aR != Relay {
			t.Errorf("A's pair %s/%s has no relay candidate", aL, aR)
		}
		if bL != Relay && bR != Relay {
			t.Errorf("B's pair %s/%s has no relay candidate", bL, bR)
		}
	})
}

func TestVNetSameLAN(t *testing.T) {
	w := newWorld(t)
	nets := w.lan("27.1.1.1", "192.168.0.0/24", fullCone(), "192.168.0.10", "192.168.0.11")
	w.start()
	cfg := func(n *vnet.Net) Config { return Config{Net: n, STUN: []string{stunURL()}} }
	runVNet(t, cfg(nets[0]), cfg(nets[1]), func(t *testing.T, aL, aR, bL, bR CandidateType) {
		t.Helper()
		if aL != Host || aR != Host || bL != Host || bR != Host {
			t.Fatalf("pairs A %s/%s, B %s/%s; want host/host on both", aL, aR, bL, bR)
		}
	})
}

func oneOf(t CandidateType, of ...CandidateType) bool {
	for _, o := range of {
		if t == o {
			return true
		}
	}
	return false
}
