package relay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/turn/v5"
)

var (
	errICETCPRelay  = errors.New("relay: TCP relaying is not offered")
	errICEFamily    = errors.New("relay: relay address family not offered")
	errICERelayDown = errors.New("relay: TURN server is closing")
)

// iceRelays is the TURN server's turn.RelayAddressGenerator: one UDP socket
// per allocation on a system-picked port of bindIP, advertised as relayIP.
// It refuses TCP relays (RFC 6062) and allocations of the other address
// family, and keeps every socket it made so that Close can close them
// synchronously (pion closes them in the background after Server.Close).
//
// Two clients of this server whose peers are each other's relayed
// addresses (both behind symmetric NATs, or --transport relay) need a
// permission to relayIP itself, which the peer policy grants only so far:
// a datagram to relayIP goes to the allocation with that port, handed
// from socket to socket on this host (to its bind address, or loopback),
// and is dropped when no allocation has the port, so that relayIP is no
// way into the other services of the relay's host. The receiving socket
// shows it as coming from the sender's relayed address. (A loopback test
// relay relays to loopback anyway.)
type iceRelays struct {
	relayIP  net.IP
	relayAdr netip.Addr
	bindIP   netip.Addr
	bind     string
	network  string // "udp4" or "udp6"
	loopback bool   // relayIP is loopback: no hand-over needed

	mu     sync.Mutex
	closed bool
	conns  map[*iceRelayConn]struct{}
	ports  map[int]*iceRelayConn // by the port of its socket
}

var _ turn.RelayAddressGenerator = (*iceRelays)(nil)

func newICERelays(relayIP, bindIP netip.Addr) *iceRelays {
	network := "udp4"
	if relayIP.Is6() {
		network = "udp6"
	}
	return &iceRelays{
		relayIP:  net.IP(relayIP.AsSlice()),
		relayAdr: relayIP,
		bindIP:   bindIP,
		bind:     bindIP.String(),
		network:  network,
		loopback: relayIP.IsLoopback(),
		conns:    map[*iceRelayConn]struct{}{},
		ports:    map[int]*iceRelayConn{},
	}
}

func (r *iceRelays) Validate() error { return nil }

func (r *iceRelays) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if c.Network != r.network {
		return nil, nil, fmt.Errorf("%w: %s", errICEFamily, c.Network)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(context.Background(), r.network, net.JoinHostPort(r.bind, strconv.Itoa(c.RequestedPort)))
	if err != nil {
		return nil, nil, err
	}
	local, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		_ = pc.Close()
		return nil, nil, fmt.Errorf("relay: unexpected relay socket address %v", pc.LocalAddr())
	}
	rc := &iceRelayConn{PacketConn: pc, owner: r, port: local.Port}
	rc.last.Store(time.Now().UnixNano())
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = pc.Close()
		return nil, nil, errICERelayDown
	}
	r.conns[rc] = struct{}{}
	r.ports[local.Port] = rc
	r.mu.Unlock()
	return rc, &net.UDPAddr{IP: r.relayIP, Port: local.Port}, nil
}

func (r *iceRelays) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errICETCPRelay
}

func (r *iceRelays) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errICETCPRelay
}

// closeAll closes every relay socket and refuses new ones.
func (r *iceRelays) closeAll() {
	r.mu.Lock()
	r.closed = true
	conns := r.conns
	r.conns = map[*iceRelayConn]struct{}{}
	r.ports = map[int]*iceRelayConn{}
	r.mu.Unlock()
	for c := range conns {
		_ = c.Close()
	}
}

// closeIdle closes the relay sockets that relayed nothing for idle; pion
// then deletes their allocations.
func (r *iceRelays) closeIdle(idle time.Duration) int {
	cutoff := time.Now().Add(-idle).UnixNano()
	var stale []*iceRelayConn
	r.mu.Lock()
	for c := range r.conns {
		if c.last.Load() <= cutoff {
			stale = append(stale, c)
		}
	}
	r.mu.Unlock()
	for _, c := range stale {
		_ = c.Close()
	}
	return len(stale)
}

// count is the number of open relay sockets.
func (r *iceRelays) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.conns)
}

// iceRelayConn is a relay socket that leaves its iceRelays when closed;
// closing it again is a no-op. It records when it last relayed a
// datagram, in either direction.
type iceRelayConn struct {
	net.PacketConn
	owner *iceRelays
	port  int          // of its socket, and of its relayed address
	last  atomic.Int64 // Unix nanoseconds
	once  sync.Once
	err   error
}

func (c *iceRelayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.PacketConn.ReadFrom(p)
	if err == nil {
		c.last.Store(time.Now().UnixNano())
		if ua, ok := from.(*net.UDPAddr); ok && c.owner.handedOver(ua) {
			from = &net.UDPAddr{IP: c.owner.relayIP, Port: ua.Port}
		}
	}
	return n, from, err
}

func (c *iceRelayConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if ua, ok := to.(*net.UDPAddr); ok && !c.owner.loopback && c.owner.isRelayIP(ua.IP) {
		dst := c.owner.socketOf(ua.Port)
		if dst == nil {
			return len(p), nil // no allocation of ours: dropped, as to any refused peer
		}
		to = dst
	}
	n, err := c.PacketConn.WriteTo(p, to)
	if err == nil {
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// isRelayIP says whether ip is the advertised relay address.
func (r *iceRelays) isRelayIP(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && a.Unmap() == r.relayAdr
}

// socketOf is where the relay socket of the allocation with port listens,
// to hand it a datagram on this host; nil when there is none.
func (r *iceRelays) socketOf(port int) *net.UDPAddr {
	r.mu.Lock()
	_, ok := r.ports[port]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	ip := r.bindIP
	if ip.IsUnspecified() {
		ip = netip.IPv6Loopback()
		if r.network == "udp4" {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	return &net.UDPAddr{IP: ip.AsSlice(), Port: port}
}

// handedOver says whether a datagram from is one another allocation's
// socket handed over on this host (from its bind address or loopback,
// and the port of a live allocation): the kernel keeps the outside from
// sending from this host's own addresses.
func (r *iceRelays) handedOver(from *net.UDPAddr) bool {
	if r.loopback {
		return false
	}
	a, ok := netip.AddrFromSlice(from.IP)
	if !ok || !(a.Unmap().IsLoopback() || a.Unmap() == r.bindIP) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok = r.ports[from.Port]
	return ok
}

func (c *iceRelayConn) Close() error {
	c.once.Do(func() {
		// Close before leaving the set: closeAll must either find the
		// socket (and wait in once.Do for this close) or find it closed.
		c.err = c.PacketConn.Close()
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		if c.owner.ports[c.port] == c {
			delete(c.owner.ports, c.port)
		}
		c.owner.mu.Unlock()
	})
	return c.err
}

// icePeerPolicy decides which peer addresses TURN clients may get
// permissions (and so relay) to; it is pion's PermissionHandler, consulted
// for CreatePermission, ChannelBind and Connect. Datagrams are relayed only
// to and from peers with a permission.
type icePeerPolicy struct {
	relayIP  netip.Addr // allowed: iceRelays hands what goes there to its allocations only
	loopback bool       // relay to loopback peers (and to this host)
	private  bool       // relay to private-range peers
	denied   map[netip.Addr]bool
	log      *slog.Logger
}

// newICEPeerPolicy returns the policy of a relay advertising relayIP. own
// are the relay's other addresses (bind and listening addresses); they,
// relayIP and this host's interface addresses are refused unless relayIP
// is loopback (a relay for tests on this host). The directed broadcast
// addresses of this host's networks are always refused.
func newICEPeerPolicy(relayIP netip.Addr, own []netip.Addr, log *slog.Logger) *icePeerPolicy {
	p := &icePeerPolicy{
		relayIP:  relayIP.Unmap(),
		loopback: relayIP.IsLoopback(),
		private:  relayIP.IsLoopback() || icePrivate(relayIP),
		denied:   map[netip.Addr]bool{},
		log:      log,
	}
	hosts, broadcasts := iceHostAddrs()
	for _, b := range broadcasts {
		p.denied[b] = true
	}
	if !p.loopback {
		for _, a := range append(append(hosts, own...), relayIP) {
			if a.IsValid() && !a.IsUnspecified() {
				p.denied[a.Unmap().WithZone("")] = true
			}
		}
	}
	return p
}

// allow is the turn.PermissionHandler.
func (p *icePeerPolicy) allow(client net.Addr, peer net.IP) bool {
	if p.allowed(peer) {
		return true
	}
	p.log.Info("TURN peer refused", "client", client.String(), "peer", peer.String())
	return false
}

// IPv6 ranges whose datagrams go to an IPv4 address embedded in them, or
// into a tunnel (RFC 6890 and its IANA registry), so that a permission
// for one would slip past the IPv4 checks.
var iceEmbedding = []netip.Prefix{
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64, well-known prefix
	netip.MustParsePrefix("64:ff9b:1::/48"), // NAT64, local use
	netip.MustParsePrefix("2002::/16"),      // 6to4
	netip.MustParsePrefix("2001::/32"),      // Teredo
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated; sit tunnels)
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments: DS-Lite, NAT64 discovery, TURN anycast
}

func (p *icePeerPolicy) allowed(peer net.IP) bool {
	a, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	// An IPv4-mapped address (::ffff:0:0/96) reaches the IPv4 address it
	// embeds, and is judged as that.
	a = a.Unmap()
	if a == p.relayIP && !p.loopback {
		return true // another client's relayed address: iceRelays hands it over, to allocations only
	}
	switch {
	case a == netip.IPv6Loopback():
		return p.loopback
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast(),
		a.IsLinkLocalUnicast(),       // including 169.254.169.254, the cloud metadata service
		a.Is4() && a.As4()[0] == 0,   // 0.0.0.0/8, "this network"
		a.Is4() && a.As4()[0] >= 240, // 240.0.0.0/4, reserved, and 255.255.255.255
		p.denied[a]:
		return false
	}
	for _, pfx := range iceEmbedding {
		if pfx.Contains(a) {
			return false
		}
	}
	switch {
	case a.IsLoopback():
		return p.loopback
	case icePrivate(a):
		return p.private
	}
	return true
}

// iceCGNAT is the shared address space of carrier-grade NATs (RFC 6598).
var iceCGNAT = netip.MustParsePrefix("100.64.0.0/10")

// icePrivate reports whether a is in a private range: RFC 1918, RFC 6598
// (CGNAT) or an IPv6 unique local address.
func icePrivate(a netip.Addr) bool {
	return a.IsPrivate() || iceCGNAT.Contains(a)
}

// iceHostAddrs returns this host's interface addresses and the directed
// broadcast addresses of its IPv4 networks.
func iceHostAddrs() (hosts, broadcasts []netip.Addr) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
			hosts = append(hosts, ip.Unmap())
		}
		ip4 := ipn.IP.To4()
		if ip4 == nil {
			continue
		}
		ones, bits := ipn.Mask.Size()
		if bits == 128 { // an IPv4 mask in IPv6 form
			ones -= 96
		} else if bits != 32 {
			continue
		}
		if ones < 0 || ones >= 31 { // /31 and /32 have no broadcast address
			continue
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(ip4)|(1<<(32-ones)-1))
		broadcasts = append(broadcasts, netip.AddrFrom4(b))
	}
	return hosts, broadcasts
}
