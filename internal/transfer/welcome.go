package transfer

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// A relay node's own transit relay and STUN server, as its welcome names
// them (ferry_transit, ferry_stun), used in place of the defaults the
// user did not change, so that the two halves of a transit pair meet on
// the node the sender used: with several nodes behind one name, each
// side's --transit default would otherwise send it wherever that name
// points.
//
// Threat model. The welcome is unauthenticated: it comes from the relay
// the user chose (or the default one), or from anyone on the path of a
// plaintext ws:// relay. That relay already sees who meets whom and when,
// and can stop any transfer by dropping mailbox messages; it cannot read
// or change what the peers say (the PAKE key it never learns encrypts
// their messages, their hints included, and the transit records). What a
// lying welcome can add is bounded here:
//   - one transit relay and one STUN server, never a list: the client
//     opens one TCP connection per transfer attempt to the one, and
//     sends it only the relay handshake (a token derived from the transit
//     key, which tells nothing) and records encrypted under that key, and
//     STUN binding requests to the other; no more than --transit and
//     --stun could make it do;
//   - only where the user kept the default (RelayDefaults.Transit, .STUN): a
//     --transit, --stun or FERRY_TRANSIT, FERRY_STUN of the user's wins;
//   - a name is resolved once, here, and the client dials and offers that
//     address, so both sides of a pair use the same node even when a
//     name points at several;
//   - never an address more local than the relay's own: a relay on the
//     internet cannot point its clients at their loopback or their LAN
//     (a router's admin port, say), whether by an address or by a name
//     that resolves to one (DNS rebinding); a relay on the LAN may name
//     the LAN, one on loopback (tests) loopback. Unspecified, multicast
//     and broadcast addresses are refused.
// At worst, then, the relay path fails or goes through a transit relay
// the mailbox relay's operator picked, which sees only ciphertext: what
// the same operator could already do to the mailbox traffic.
//
// Names. A peer's relay hints are dialled only when they are IP
// addresses (relays in link.go: no DNS look-up on the peer's say-so). A
// name in one's own relay's welcome is trusted like the relay URL the
// user gave, which is a name too: the client resolves it and offers the
// peer the address, which the peer then dials.

// RelayDefaults says which of a side's relays are defaults that its mailbox
// relay's services replace: the transit relay (LinkOptions.TransitRelay,
// and a classic link's relay) and the STUN servers (NAT.STUN). The zero
// value replaces nothing.
type RelayDefaults struct {
	Transit bool
	STUN    bool
	// Lookup resolves a name (a service's, or the relay's own for the
	// comparison); nil uses net.DefaultResolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

// welcomeLookupTimeout bounds resolving what a welcome names.
const welcomeLookupTimeout = 5 * time.Second

// Services returns the transit relay (IP:PORT) and the STUN server URL
// ("stun:IP:PORT") of w's relay node that may replace the defaults d
// names, each "" when it is not to be used: not a default, not
// announced, not resolved, or more local than the relay.
func (d RelayDefaults) Services(ctx context.Context, w *wormhole.Wormhole) (transit, stun string) {
	if w == nil || (!d.Transit && !d.STUN) {
		return "", ""
	}
	t, s, relayURL := w.Services()
	if (!d.Transit || t == "") && (!d.STUN || s == "") {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, welcomeLookupTimeout)
	defer cancel()
	floor := scopePublic
	if u, err := url.Parse(relayURL); err == nil {
		floor = d.scopeOf(ctx, u.Hostname())
	}
	if d.Transit && t != "" {
		transit = d.resolve(ctx, t, floor)
	}
	if d.STUN && s != "" {
		if a := d.resolve(ctx, s, floor); a != "" {
			stun = "stun:" + a
		}
	}
	return transit, stun
}

// apply puts the services d lets w's relay node provide into lo.
func (d RelayDefaults) apply(ctx context.Context, w *wormhole.Wormhole, lo *LinkOptions) {
	transit, stun := d.Services(ctx, w)
	if transit != "" {
		lo.TransitRelay = transit
	}
	if stun != "" {
		lo.NAT.STUN = []string{stun}
	}
}

// RelayLink is lo with the services of w's relay node in place of the
// defaults d names (see RelayDefaults). peer, when not nil, is what the
// sender offered the receiver: a receiver whose transit relay is a
// default takes the sender's first one it would dial anyway (an IP
// address) instead, so that the two meet on the sender's node rather
// than each on its own.
func RelayLink(ctx context.Context, lo LinkOptions, w *wormhole.Wormhole, d RelayDefaults, peer *Transports) LinkOptions {
	if peer != nil && d.Transit {
		if r := peerRelays(*peer); len(r) > 0 {
			lo.TransitRelay = r[0]
			d.Transit = false
		}
	}
	lo.NAT = cloneNAT(lo.NAT)
	d.apply(ctx, w, &lo)
	return lo
}

// ClassicRelay is the transit relay for a classic link: w's relay
// node's, when d lets it replace relay, else relay.
func (d RelayDefaults) ClassicRelay(ctx context.Context, w *wormhole.Wormhole, relay string) string {
	d.STUN = false
	if t, _ := d.Services(ctx, w); t != "" {
		return t
	}
	return relay
}

// cloneNAT copies cfg's STUN list, which apply may replace.
func cloneNAT(cfg natconf.Config) natconf.Config {
	cfg.STUN = append([]string(nil), cfg.STUN...)
	return cfg
}

// Scopes of an address: a welcome may name no address of a lower scope
// than its relay's.
const (
	scopeLoopback = iota
	scopeLocal    // private, unique local, link-local, shared (CGNAT)
	scopePublic
)

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// scope is ip's scope, and whether it may be dialled at all.
func scope(ip netip.Addr) (int, bool) {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid() || ip.Zone() != "" || ip.IsUnspecified() || ip.IsMulticast() ||
		ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return 0, false
	case ip.IsLoopback():
		return scopeLoopback, true
	case ip.IsPrivate() || ip.IsLinkLocalUnicast() || sharedAddressSpace.Contains(ip):
		return scopeLocal, true
	}
	return scopePublic, true
}

// lookup resolves host, an IP address or a name.
func (d RelayDefaults) lookup(ctx context.Context, host string) []netip.Addr {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}
	}
	var (
		ips []netip.Addr
		err error
	)
	if d.Lookup != nil {
		ips, err = d.Lookup(ctx, host)
	} else {
		ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	}
	if err != nil {
		return nil
	}
	return ips[:min(len(ips), 16)]
}

// scopeOf is the lowest scope of the relay host's addresses (public when
// it does not resolve: then only public services are taken).
func (d RelayDefaults) scopeOf(ctx context.Context, host string) int {
	low := scopePublic
	for _, ip := range d.lookup(ctx, host) {
		if s, ok := scope(ip); ok && s < low {
			low = s
		}
	}
	return low
}

// resolve is hostport (a checked HOST:PORT) as IP:PORT, the first address
// of its host (IPv4 first) that may be dialled and is not more local than
// floor, or "".
func (d RelayDefaults) resolve(ctx context.Context, hostport string, floor int) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	var pick netip.Addr
	for _, ip := range d.lookup(ctx, host) {
		ip = ip.Unmap()
		if s, ok := scope(ip); !ok || s < floor {
			continue
		}
		if !pick.IsValid() || (ip.Is4() && !pick.Is4()) {
			pick = ip
		}
	}
	if !pick.IsValid() {
		return ""
	}
	p, _ := strconv.Atoi(port)
	return netip.AddrPortFrom(pick, uint16(p)).String()
}
