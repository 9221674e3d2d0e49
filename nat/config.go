package nat

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
)

// Config configures an Agent. The zero value works: it gathers host
// candidates only, on the real network, without mDNS. Callers normally fill
// STUN with a few default public servers.
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

// Errors reported for a bad Config.
var (
	ErrBadSTUNURL = errors.New("nat: bad stun url")
	ErrBadTURNURL = errors.New("nat: bad turn url")
)

// serverURIs parses the configured STUN and TURN servers.
func (c *Config) serverURIs() ([]*stun.URI, error) {
	uris := make([]*stun.URI, 0, len(c.STUN)+len(c.TURN))
	for _, raw := range c.STUN {
		u, err := stun.ParseURI(raw)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadSTUNURL, raw, err)
		}
		if u.Scheme != stun.SchemeTypeSTUN && u.Scheme != stun.SchemeTypeSTUNS {
			return nil, fmt.Errorf("%w %q: scheme must be stun", ErrBadSTUNURL, raw)
		}
		uris = append(uris, u)
	}
	for _, t := range c.TURN {
		u, err := stun.ParseURI(t.URL)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrBadTURNURL, t.URL, err)
		}
		if u.Scheme != stun.SchemeTypeTURN && u.Scheme != stun.SchemeTypeTURNS {
			return nil, fmt.Errorf("%w %q: scheme must be turn or turns", ErrBadTURNURL, t.URL)
		}
		if t.Username == "" || t.Password == "" {
			return nil, fmt.Errorf("%w %q: username and password are required", ErrBadTURNURL, t.URL)
		}
		u.Username, u.Password = t.Username, t.Password
		uris = append(uris, u)
	}
	return uris, nil
}
