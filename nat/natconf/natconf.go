// Package natconf holds what the ways through NATs share and what the
// peers say to each other about them: the STUN and TURN servers (Config),
// the ICE Signal, and the limits on what a peer may send. It links no ICE
// or QUIC implementation, so a build that has none (the page's
// WebAssembly program) can carry the same options. Package nat, the ICE
// agent and its QUIC stream, aliases these types.
package natconf

import (
	"log/slog"
	"net/netip"

	"github.com/pion/transport/v5"
)

// Config configures the ICE agent (package nat) and the WebRTC path. The
// zero value works: it gathers host candidates only, on the real network,
// without mDNS. Callers normally fill STUN with a few default public
// servers.
type Config struct {
	// STUN servers used to learn server-reflexive (public) addresses,
	// as "stun:host:port".
	STUN []string

	// TURN servers used to allocate relay candidates, the path of last resort.
	TURN []TURNServer

	// Net is the network the agent runs on. Nil means the real network; tests
	// pass a *vnet.Net from github.com/pion/transport/v5/vnet.
	Net transport.Net

	// MDNS hides local addresses behind random ".local" names and resolves
	// the peer's such names. It is best effort: where the mDNS sockets
	// cannot be opened, host candidates carry plain addresses anyway. Off by
	// default: host candidates carry plain IP addresses and ".local"
	// candidates from the peer are refused.
	MDNS bool

	// LoopbackOnly restricts the agent to loopback addresses, for tests and
	// for two peers on one machine: it gathers only 127.0.0.1 candidates and
	// accepts only loopback candidates from the peer. Without it, loopback
	// candidates from the peer are refused.
	LoopbackOnly bool

	// RelayOnly gathers relay candidates only, so every byte goes through
	// a TURN server (--transport relay). It needs at least one TURN server.
	RelayOnly bool

	// PublicIPv4Hint is an address a server saw us connect from (the
	// mailbox relay's your-address). When gathering yields no
	// server-reflexive candidate (no STUN server, or none answered), a
	// server-reflexive candidate with this address and the host
	// candidates' port is offered, which the peer reaches behind a NAT that
	// keeps the port (a 1:1 NAT, many home routers). Ignored unless it is
	// a public IPv4 address, and with RelayOnly.
	PublicIPv4Hint netip.Addr

	// Logger receives diagnostic logs (including pion's); nil means silent.
	Logger *slog.Logger
}

// TURNServer is a TURN relay and its long-term credentials.
type TURNServer struct {
	// URL is "turn:host:port?transport=udp" (or transport=tcp, or a
	// "turns:" URL for TURN over TLS).
	URL      string
	Username string
	Password string
}

// Signal is what an ICE agent tells its peer. The caller carries Signals
// over its encrypted channel (they marshal to small JSON objects) and hands
// each one the peer sent to the agent. An agent emits first a Signal
// holding the credentials, then one per local candidate as it is found
// (trickle ICE), then one with Done set.
type Signal struct {
	Ufrag      string   `json:"ufrag,omitempty"`
	Pwd        string   `json:"pwd,omitempty"`
	Candidates []string `json:"candidates,omitempty"`
	Done       bool     `json:"done,omitempty"` // no more candidates will follow
}

// Limits on what the peer may send. Its candidates arrive over the encrypted
// channel but are still untrusted input: each one makes us send packets to
// the address it names, so there must be few of them and they must be sane.
const (
	// MaxRemoteCandidates is how many distinct remote addresses an agent
	// accepts; further candidates are refused.
	MaxRemoteCandidates = 64
	// MaxCandidateLen is the longest candidate string accepted, in bytes.
	MaxCandidateLen = 512
	// MaxRemoteAddresses bounds all remote addresses an agent ever sends
	// checks to: the signalled candidates plus the peer-reflexive ones it
	// learns from checks arriving from new addresses. Checks from further
	// new addresses go unanswered.
	MaxRemoteAddresses = 2 * MaxRemoteCandidates
)

// RemoteIPAllowed reports whether ip, an address the peer named in a
// candidate (or one that peer-reflexive checks came from), is one we may
// send connectivity checks to: a unicast address that is not loopback
// (only loopback with loopbackOnly).
func RemoteIPAllowed(ip netip.Addr, loopbackOnly bool) bool {
	ip = ip.Unmap()
	if loopbackOnly {
		return ip.IsLoopback()
	}
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsLoopback(), ip.IsMulticast(),
		ip.IsInterfaceLocalMulticast(), ip.IsLinkLocalMulticast():
		return false
	case ip.Is4() && (ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || ip.As4()[0] == 0):
		return false // limited broadcast, "this network"
	}
	return true
}
