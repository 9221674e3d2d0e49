package classic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
)

// DefaultRelay is the public transit relay classic clients use.
const DefaultRelay = "tcp:transit.magic-wormhole.io:4001"

// ParseRelay accepts a transit relay as HOST:PORT or, as the Python
// client writes it, tcp:HOST:PORT. "" and "none" mean no relay.
func ParseRelay(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return "", nil
	}
	addr := strings.TrimPrefix(s, "tcp:")
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || strings.ContainsFunc(host, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("transit relay %q is not HOST:PORT or tcp:HOST:PORT", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("transit relay %q has no valid port", s)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// Modes of a classic link.
const (
	ModeAuto   = "auto"   // direct TCP and the relay, raced
	ModeDirect = "direct" // direct TCP only
	ModeRelay  = "relay"  // the transit relay only: no listener, no direct hints
)

// ModeFor maps ferry's --transport to a classic link mode: auto races
// direct TCP and the relay, tcp is direct only, relay is the transit relay
// only. Classic clients have no ICE.
func ModeFor(transport string) (string, error) {
	switch transport {
	case "", transfer.TransportAuto:
		return ModeAuto, nil
	case transfer.TransportTCP:
		return ModeDirect, nil
	case transfer.TransportRelay:
		return ModeRelay, nil
	}
	return "", fmt.Errorf("a classic Magic Wormhole client cannot use --transport %s (use auto, tcp or relay)", transfer.Escape(transport))
}

// LinkOptions say how a side may connect to a classic peer.
type LinkOptions struct {
	Mode      string // ModeAuto when empty
	ListenTCP string // where to listen; ":0" when empty
	Relay     string // our transit relay, HOST:PORT (ParseRelay); "" for none
	// ConnectTimeout and IdleTimeout bound the race for a connection and
	// the time the connection may carry nothing (the transit package's
	// defaults when 0).
	ConnectTimeout, IdleTimeout time.Duration
	OnConnecting                func(paths []string) // told the paths tried when it takes a few seconds
	Logger                      *slog.Logger
	// Dial connects to transit relays (a browser reaches one over
	// WebSocket); nil dials TCP.
	Dial transit.DialFunc
}

// Link is one side's preparations: a listener (unless relay-only) and the
// transit message describing how to reach us.
type Link struct {
	opts LinkOptions
	log  *slog.Logger
	ln   *transit.Listener
}

// Prepare opens what the peer will connect to and returns our transit
// message.
func Prepare(ctx context.Context, opts LinkOptions) (*Link, json.RawMessage, error) {
	if opts.Mode == "" {
		opts.Mode = ModeAuto
	}
	if !canListen && opts.Mode == ModeAuto {
		opts.Mode = ModeRelay // a browser takes no connections: only the relay meets the peer
	}
	if opts.ListenTCP == "" {
		opts.ListenTCP = ":0"
	}
	l := &Link{opts: opts, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	msg := Transit{Abilities: []Ability{{Type: DirectTCP}, {Type: RelayV1}}, Hints: []Hint{}}
	if opts.Mode != ModeRelay {
		ln, err := transit.Listen(ctx, opts.ListenTCP)
		if err != nil {
			return nil, nil, err
		}
		l.ln = ln
		for _, h := range ln.Hints() {
			msg.Hints = append(msg.Hints, Hint{Type: DirectTCP, Hostname: h.Hostname, Port: h.Port, Priority: h.Priority})
		}
	}
	if opts.Mode != ModeDirect && opts.Relay != "" {
		host, port, _ := net.SplitHostPort(opts.Relay)
		p, _ := strconv.Atoi(port)
		msg.Hints = append(msg.Hints, Hint{Type: RelayV1, Hints: []Hint{{Type: DirectTCP, Hostname: host, Port: p}}})
	}
	if opts.Mode == ModeRelay && opts.Relay == "" {
		return nil, nil, errors.New("relay-only transfers need a transit relay (--transit)")
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return nil, nil, err
	}
	return l, raw, nil
}

// Close stops listening.
func (l *Link) Close() error {
	if l.ln != nil {
		return l.ln.Close()
	}
	return nil
}

// Connect races the paths both sides offered, with the classic transit
// key, and returns the connection and which path won ("direct tcp" or
// "relay"). The peer's hints are capped and filtered: only IP literals,
// never a DNS look-up on the peer's say-so. The connection's reads and
// writes have the idle timeout.
func (l *Link) Connect(ctx context.Context, transitKey []byte, role transit.Role, peer json.RawMessage) (io.ReadWriteCloser, string, error) {
	var direct, relays []transit.Hint
	if peer != nil {
		var err error
		if direct, relays, err = ParseTransit(peer); err != nil {
			return nil, "", err
		}
	}
	cfg := transit.Config{Key: transitKey, Role: role, Logger: l.log, RelayDelay: transit.DefaultRelayDelay, Dial: l.opts.Dial}
	if l.opts.Mode != ModeRelay {
		cfg.Listener, cfg.Peer = l.ln, direct
	}
	if l.opts.Mode != ModeDirect {
		if l.opts.Relay != "" {
			cfg.Relays = append(cfg.Relays, l.opts.Relay)
		}
		ips := transit.FilterHints(relays)
		for _, ap := range ips[:min(len(ips), MaxPeerRelays)] {
			if ap.String() != l.opts.Relay {
				cfg.Relays = append(cfg.Relays, ap.String())
			}
		}
	}
	if cfg.Listener == nil && len(cfg.Peer) == 0 && len(cfg.Relays) == 0 {
		return nil, "", errors.New("the two sides have no transit path in common (see --transport and --transit)")
	}
	l.log.Debug("classic: connecting", "direct", len(cfg.Peer), "relays", cfg.Relays)
	timeout := l.opts.ConnectTimeout
	if timeout <= 0 {
		timeout = transit.DefaultConnectTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var tried []string
	if cfg.Listener != nil && len(cfg.Peer) > 0 {
		tried = append(tried, transit.PathDirect)
	}
	if len(cfg.Relays) > 0 {
		tried = append(tried, "transit relay")
	}
	if l.opts.OnConnecting != nil {
		notice := time.AfterFunc(transit.ConnectingNotice, func() { l.opts.OnConnecting(tried) })
		defer notice.Stop()
	}
	c, path, err := transit.Race(rctx, cfg)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, "", err
		case rctx.Err() != nil:
			return nil, "", &transit.NoPathError{Tried: tried, Timeout: timeout}
		}
		return nil, "", &transit.NoPathError{Tried: tried, Err: err}
	}
	return transit.WithIdle(c, l.opts.IdleTimeout), path, nil
}
