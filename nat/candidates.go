package nat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/ferrydrop/ferry/nat/natconf"
	"github.com/pion/ice/v4"
)

// Limits on what the peer may send (natconf's).
const (
	MaxRemoteCandidates = natconf.MaxRemoteCandidates
	MaxCandidateLen     = natconf.MaxCandidateLen
	MaxRemoteAddresses  = natconf.MaxRemoteAddresses
)

// CandidateType is the kind of a candidate: how its address was learnt.
type CandidateType string

// Candidate types (RFC 8445 section 5.1.1).
const (
	Host            CandidateType = "host"  // an address of a local interface
	ServerReflexive CandidateType = "srflx" // our public address, as a STUN server saw it
	PeerReflexive   CandidateType = "prflx" // our address as the peer saw it during checks
	Relay           CandidateType = "relay" // an address allocated on a TURN server
)

// Errors for refused remote input. They are wrapped with details.
var (
	ErrTooManyCandidates = errors.New("nat: too many remote candidates")
	ErrBadCandidate      = errors.New("nat: bad remote candidate")
	ErrBadCredentials    = errors.New("nat: bad remote credentials")
)

func candidateType(t ice.CandidateType) CandidateType {
	switch t {
	case ice.CandidateTypeHost:
		return Host
	case ice.CandidateTypeServerReflexive:
		return ServerReflexive
	case ice.CandidateTypePeerReflexive:
		return PeerReflexive
	case ice.CandidateTypeRelay:
		return Relay
	default:
		return CandidateType(t.String())
	}
}

// parseRemoteCandidate parses and vets one candidate from the peer. It
// returns the candidate and the key ("ip:port" or "name.local:port") that
// counts towards MaxRemoteCandidates. A well-formed candidate this agent
// cannot use (TCP, IPv6: a newer peer may send them) yields a nil candidate
// and no error.
func parseRemoteCandidate(raw string, mdns, loopbackOnly bool) (ice.Candidate, string, error) {
	if len(raw) > MaxCandidateLen {
		return nil, "", fmt.Errorf("%w: %d bytes, limit %d", ErrBadCandidate, len(raw), MaxCandidateLen)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] > 0x7e {
			return nil, "", fmt.Errorf("%w: non-printable byte at %d", ErrBadCandidate, i)
		}
	}
	c, err := ice.UnmarshalCandidate(raw)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBadCandidate, err)
	}
	switch c.Type() {
	case ice.CandidateTypeHost, ice.CandidateTypeServerReflexive, ice.CandidateTypeRelay:
	default:
		return nil, "", fmt.Errorf("%w: type %s", ErrBadCandidate, c.Type())
	}
	if c.Component() != ice.ComponentRTP {
		return nil, "", fmt.Errorf("%w: component %d", ErrBadCandidate, c.Component())
	}
	if c.Port() < 1 || c.Port() > 65535 {
		return nil, "", fmt.Errorf("%w: port %d", ErrBadCandidate, c.Port())
	}
	fields := strings.Fields(strings.TrimPrefix(raw, "candidate:"))
	if c.NetworkType() != ice.NetworkTypeUDP4 || len(fields) < 3 || !strings.EqualFold(fields[2], "udp") {
		return nil, "", nil
	}
	addr := c.Address()
	if strings.HasSuffix(addr, ".local") && c.Type() == ice.CandidateTypeHost {
		if !mdns {
			return nil, "", fmt.Errorf("%w: mdns name %q but mdns is off", ErrBadCandidate, addr)
		}
		return c, net.JoinHostPort(strings.ToLower(addr), fmt.Sprint(c.Port())), nil
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		// Never resolve names chosen by the peer.
		return nil, "", fmt.Errorf("%w: address %q is not an ip address", ErrBadCandidate, addr)
	}
	if !remoteIPAllowed(ip, loopbackOnly) {
		return nil, "", fmt.Errorf("%w: address %s not allowed", ErrBadCandidate, ip)
	}
	return c, netip.AddrPortFrom(ip.Unmap(), uint16(c.Port())).String(), nil
}

// remoteIPAllowed is the policy for addresses we send connectivity checks to,
// applied both to signalled candidates and (through ice's remote IP filter)
// to peer-reflexive ones learnt from incoming checks.
func remoteIPAllowed(ip netip.Addr, loopbackOnly bool) bool {
	return natconf.RemoteIPAllowed(ip, loopbackOnly)
}

// remoteBudget is ice's remote IP filter: ice consults it once for each new
// remote candidate, signalled or peer-reflexive, before it sends anything
// there. It applies remoteIPAllowed and spends one of MaxRemoteAddresses.
type remoteBudget struct {
	loopbackOnly bool
	mu           sync.Mutex
	spent        int
}

func (b *remoteBudget) allow(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || !remoteIPAllowed(a, b.loopbackOnly) {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spent >= MaxRemoteAddresses {
		return false
	}
	b.spent++
	return true
}

// checkCredentials vets the peer's ICE username fragment and password
// (RFC 8445 section 5.3: 4 to 256 and 22 to 256 ice-chars).
func checkCredentials(ufrag, pwd string) error {
	if len(ufrag) < 4 || len(ufrag) > 256 || !iceChars(ufrag) {
		return fmt.Errorf("%w: ufrag must be 4 to 256 ice-chars", ErrBadCredentials)
	}
	if len(pwd) < 22 || len(pwd) > 256 || !iceChars(pwd) {
		return fmt.Errorf("%w: pwd must be 22 to 256 ice-chars", ErrBadCredentials)
	}
	return nil
}

func iceChars(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '+' || b == '/') {
			return false
		}
	}
	return true
}
