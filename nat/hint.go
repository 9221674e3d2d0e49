package nat

import (
	"net/netip"
	"sync"

	"github.com/pion/ice/v4"
)

// usableHint is cfg's PublicIPv4Hint when a candidate may be made of it:
// a public IPv4 address (not private, loopback, link-local, multicast or
// unspecified), and not when only relay candidates are wanted.
func usableHint(cfg Config) netip.Addr {
	h := cfg.PublicIPv4Hint.Unmap()
	if cfg.RelayOnly || !h.Is4() || !h.IsGlobalUnicast() || h.IsPrivate() || h.IsLoopback() {
		return netip.Addr{}
	}
	return h
}

// hintGathering watches the gathered candidates for what the hint needs:
// whether a server-reflexive one came (then the hint is not needed) and
// the port of the host candidates (one socket serves them all).
type hintGathering struct {
	hint netip.Addr

	mu        sync.Mutex
	srflx     bool
	hostPort  int
	hostFound bool
}

func (h *hintGathering) saw(c ice.Candidate) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch c.Type() {
	case ice.CandidateTypeServerReflexive:
		h.srflx = true
	case ice.CandidateTypeHost:
		if !h.hostFound && c.NetworkType() == ice.NetworkTypeUDP4 {
			h.hostPort, h.hostFound = c.Port(), true
		}
	}
}

// candidate is the server-reflexive candidate of the hint at the host
// port, or nil when there is no hint, STUN gave one, or there was no host
// candidate. Its related address is left unspecified (0.0.0.0), so that
// it never names a local address (hidden with mDNS).
func (h *hintGathering) candidate() ice.Candidate {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.hint.IsValid() || h.srflx || !h.hostFound {
		return nil
	}
	c, err := ice.NewCandidateServerReflexive(&ice.CandidateServerReflexiveConfig{
		Network:   "udp",
		Address:   h.hint.String(),
		Port:      h.hostPort,
		Component: ice.ComponentRTP,
		RelAddr:   "0.0.0.0",
		RelPort:   0,
	})
	if err != nil {
		return nil
	}
	return c
}
