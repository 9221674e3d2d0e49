package rtc

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/ferrydrop/ferry/nat/natconf"
)

// Signal is one message of the signalling exchange, carried by the caller
// over its authenticated channel. The offerer sends an offer first, the
// answerer an answer; then each side trickles its candidates and, when it
// has no more, Done. A side whose connection fails says "bye", so that
// the other stops waiting (a DTLS handshake that one side refuses can
// look fine to the other until it times out).
type Signal struct {
	Type       string   `json:"type,omitempty"` // "offer" or "answer", with SDP; or "bye"
	SDP        string   `json:"sdp,omitempty"`
	Candidates []string `json:"candidates,omitempty"` // "candidate:…" attribute values
	Done       bool     `json:"done,omitempty"`       // no more candidates will follow
}

// Signal types.
const (
	TypeOffer  = "offer"
	TypeAnswer = "answer"
	TypeBye    = "bye"
)

// MaxSDP caps the peer's session description, in bytes. An offer or
// answer for one data channel is well under 2 KB; candidates trickle
// separately.
const MaxSDP = 32 << 10

// Errors for refused signalling input; they are wrapped with details.
var (
	ErrBadSignal    = errors.New("rtc: bad signal from the other side")
	ErrBadCandidate = errors.New("rtc: bad candidate from the other side")
	ErrPeerFailed   = errors.New("rtc: the other side could not connect")
)

// checkSDP vets the peer's session description: its size and bytes, one
// media section, for data channels, and every candidate it carries
// (counted against the same budget as trickled ones).
func (v *vetter) checkSDP(sdp string) error {
	if len(sdp) == 0 || len(sdp) > MaxSDP {
		return fmt.Errorf("%w: a description of %d bytes (limit %d)", ErrBadSignal, len(sdp), MaxSDP)
	}
	for i := 0; i < len(sdp); i++ {
		if b := sdp[i]; (b < 0x20 || b > 0x7e) && b != '\r' && b != '\n' && b != '\t' {
			return fmt.Errorf("%w: byte %#x in the description", ErrBadSignal, b)
		}
	}
	media := 0
	for line := range strings.Lines(sdp) {
		line = strings.TrimRight(line, "\r\n")
		if m, ok := strings.CutPrefix(line, "m="); ok {
			// One data channel, no audio or video for pion to set up.
			if media++; media > 1 || !strings.HasPrefix(m, "application ") {
				return fmt.Errorf("%w: media section %q", ErrBadSignal, line)
			}
		}
		if c, ok := strings.CutPrefix(line, "a=candidate:"); ok {
			if _, err := v.check("candidate:" + c); err != nil {
				return err
			}
		}
	}
	if media == 0 {
		return fmt.Errorf("%w: no data channel in the description", ErrBadSignal)
	}
	return nil
}

// vetter checks the peer's candidates and counts the distinct addresses
// they name.
type vetter struct {
	loopbackOnly bool
	mu           sync.Mutex
	seen         map[string]bool
}

func newVetter(loopbackOnly bool) *vetter {
	return &vetter{loopbackOnly: loopbackOnly, seen: make(map[string]bool)}
}

// check vets one candidate ("candidate:foundation component transport
// priority address port typ type ..."). It reports whether to use it: a
// well-formed candidate over something other than UDP (browsers also
// offer TCP) is skipped without an error.
func (v *vetter) check(raw string) (bool, error) {
	if len(raw) > natconf.MaxCandidateLen {
		return false, fmt.Errorf("%w: %d bytes, limit %d", ErrBadCandidate, len(raw), natconf.MaxCandidateLen)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] < 0x20 || raw[i] > 0x7e {
			return false, fmt.Errorf("%w: non-printable byte at %d", ErrBadCandidate, i)
		}
	}
	rest, ok := strings.CutPrefix(raw, "candidate:")
	f := strings.Fields(rest)
	if !ok || len(f) < 8 || f[6] != "typ" {
		return false, fmt.Errorf("%w: %q is not a candidate", ErrBadCandidate, raw)
	}
	switch f[7] {
	case "host", "srflx", "prflx", "relay":
	default:
		return false, fmt.Errorf("%w: type %q", ErrBadCandidate, f[7])
	}
	if f[1] != "1" {
		return false, fmt.Errorf("%w: component %q", ErrBadCandidate, f[1])
	}
	port, err := strconv.Atoi(f[5])
	if err != nil || port < 1 || port > 65535 {
		return false, fmt.Errorf("%w: port %q", ErrBadCandidate, f[5])
	}
	addr := strings.ToLower(f[4])
	if ip, err := netip.ParseAddr(addr); err == nil {
		if ip.Zone() != "" || !natconf.RemoteIPAllowed(ip, v.loopbackOnly) {
			return false, fmt.Errorf("%w: address %s not allowed", ErrBadCandidate, addr)
		}
		addr = ip.Unmap().String()
	} else if !strings.HasSuffix(addr, ".local") || f[7] != "host" {
		// Never resolve names chosen by the peer (mDNS names of host
		// candidates are the engine's business: a browser resolves them
		// on the local link, pion ignores them unless mDNS is on).
		return false, fmt.Errorf("%w: address %q is not an ip address", ErrBadCandidate, f[4])
	}
	if !strings.EqualFold(f[2], "udp") {
		return false, nil
	}
	key := addr + " " + f[5]
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.seen[key] && len(v.seen) >= natconf.MaxRemoteCandidates {
		return false, fmt.Errorf("%w: more than %d", ErrBadCandidate, natconf.MaxRemoteCandidates)
	}
	v.seen[key] = true
	return true, nil
}
