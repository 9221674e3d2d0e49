package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat/natconf"
)

// Transport choices for --transport.
const (
	TransportAuto   = "auto"   // race everything, prefer direct TCP
	TransportTCP    = "tcp"    // direct TCP only
	TransportICE    = "ice"    // ICE with QUIC (host and server-reflexive pairs)
	TransportRelay  = "relay"  // ICE with QUIC through a TURN server only
	TransportWebRTC = "webrtc" // a WebRTC data channel only (host, STUN and TURN)
)

// Paths a connection can take, besides "ice host", "ice srflx" and the like.
const (
	PathDirect       = transit.PathDirect // direct TCP
	pathTransitRelay = "transit relay"    // TCP through a transit relay
	pathICERelay     = "ice relay (turn)" // QUIC through a TURN relay
	pathWebRTC       = "webrtc"           // a data channel; "webrtc host" and the like where the pair is known
	pathWebRTCRelay  = "webrtc relay (turn)"
)

// iceHeadStart is how long the transit relay waits when ICE may still
// connect.
const iceHeadStart = 5 * time.Second

// maxPeerRelays caps the transit relays we dial on the peer's say-so.
const maxPeerRelays = 2

// rank orders paths: direct TCP (kernel TCP on a LAN is the fastest),
// then ICE with QUIC, then a WebRTC data channel (SCTP in user space is
// slower than QUIC; for a browser it is the only direct path), then the
// same two through TURN, the transit relay last.
func rank(path string) int {
	switch {
	case path == PathDirect:
		return 6
	case path == pathICERelay:
		return 3
	case path == pathWebRTCRelay:
		return 2
	case path == pathTransitRelay:
		return 1
	case strings.HasPrefix(path, pathWebRTC):
		return 4
	}
	return 5 // "ice host" and the like
}

// tcpGrace is how long an ICE connection waits for a direct TCP one that
// may still win: kernel TCP on a LAN is the fastest path.
const tcpGrace = 300 * time.Millisecond

// Chosen is the byte the sender writes on the connection it picked.
const Chosen = 'G'

// CheckTransport validates a --transport value.
func CheckTransport(t string) error {
	switch t {
	case "", TransportAuto, TransportTCP, TransportICE, TransportRelay, TransportWebRTC:
		return nil
	}
	return fmt.Errorf("unknown transport %q (want auto, tcp, ice, relay or webrtc)", t)
}

// LinkOptions say how a side may connect to its peer.
type LinkOptions struct {
	Transport string         // TransportAuto when empty
	ListenTCP string         // where to listen for direct connections; ":0" when empty
	NAT       natconf.Config // STUN and TURN servers for ICE and WebRTC
	// TransitRelay is a transit relay (HOST:PORT) where both sides may
	// meet when neither a direct connection nor ICE works; "" for none.
	TransitRelay string
	// ConnectTimeout bounds the race for a connection
	// (transit.DefaultConnectTimeout when 0); IdleTimeout bounds how long
	// the chosen connection may carry nothing (transit.DefaultIdleTimeout
	// when 0).
	ConnectTimeout, IdleTimeout time.Duration
	// DialRelay, if set, opens connections to transit relays (a browser
	// reaches them over WebSocket); nil dials TCP.
	DialRelay transit.DialFunc
	// OnConnecting, if set, is told the paths being tried when no
	// connection has been made within transit.ConnectingNotice.
	OnConnecting func(paths []string)
	Logger       *slog.Logger
	// Attempt is 0 for the first path, n for the n-th reconnect: each
	// attempt's handshakes use keys of their own (AttemptKey).
	Attempt int
	// Stripes is how many direct TCP connections to carry the stream
	// over at once when the peer offers striping too; 0 for the default
	// (see link_stripe.go), none (1) when negative.
	Stripes int
	// Sender is set on the side that sends the stream: with the default
	// Stripes it stripes only where its kernel has no BBR.
	Sender bool
}

// Link is one side's half of the connection race.
type Link struct {
	opts    LinkOptions
	log     *slog.Logger
	tcp     *transit.Listener
	ice     iceSide // our ICE agent, when we offered ICE
	webrtc  bool    // we offered a WebRTC data channel
	stripes int     // the direct connections we offered to stripe over
}

// PrepareLink opens what the peer will connect to and returns how to
// reach it. In auto mode a path that cannot be set up is left out.
func PrepareLink(ctx context.Context, opts LinkOptions) (*Link, Transports, error) {
	if opts.Transport == "" {
		opts.Transport = TransportAuto
	}
	if err := CheckTransport(opts.Transport); err != nil {
		return nil, Transports{}, err
	}
	if opts.ListenTCP == "" {
		opts.ListenTCP = ":0"
	}
	l := &Link{opts: opts, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	auto := opts.Transport == TransportAuto
	var tr Transports
	p, err := pathsFor(opts.Transport)
	if err != nil {
		return nil, tr, err
	}
	if p.tcp {
		ln, err := transit.Listen(ctx, opts.ListenTCP)
		if err != nil {
			return nil, tr, err
		}
		l.tcp, tr.TCP = ln, ln.Hints()
		if l.stripes = opts.offeredStripes(ln.CongestionControl()); l.stripes > 1 {
			tr.Stripes = l.stripes
		}
	}
	if p.relay && opts.TransitRelay != "" {
		tr.Relays = []string{opts.TransitRelay}
	}
	l.webrtc, tr.WebRTC = p.webrtc, p.webrtc
	if p.ice {
		ice, err := l.prepareICE(opts.Transport == TransportRelay)
		if err != nil && opts.Transport == TransportRelay && len(tr.Relays) > 0 {
			// no TURN server: the transit relay is the relay
			l.log.Debug("link: no TURN relay", "err", err)
			err = nil
		}
		if err != nil && !auto {
			l.Close()
			return nil, tr, err
		}
		if err != nil {
			l.log.Debug("link: ICE unavailable", "err", err)
		}
		tr.ICE = ice
		if ice != nil {
			tr.Fingerprint = hex.EncodeToString(l.ice.fingerprint())
		}
	}
	return l, tr, nil
}

// Close releases listeners and agents.
func (l *Link) Close() error {
	if l.tcp != nil {
		l.tcp.Close()
	}
	l.ice.close()
	return nil
}

// Connect races every path both sides offered. The sender picks the
// winner (direct TCP if it connects within tcpGrace of ICE) and marks it
// with one byte; the receiver takes the connection that carries the mark.
func (l *Link) Connect(ctx context.Context, w *wormhole.Wormhole, ch *Channel, role transit.Role, peer Transports) (*Conn, error) {
	timeout := l.opts.ConnectTimeout
	if timeout <= 0 {
		timeout = transit.DefaultConnectTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, tried, err := l.connect(rctx, w, ch, role, peer)
	if n := l.stripesWith(peer); err == nil && n > 1 && c.Path == PathDirect && l.tcp != nil {
		first := c
		if c, err = l.addStripes(ctx, w, role, peer, first, n); err != nil {
			first.Abort()
		}
	}
	if err == nil {
		c.limitIdle(l.opts.IdleTimeout)
		return c, nil
	}
	if ctx.Err() == nil && rctx.Err() != nil { // the race ran out of time
		return nil, &transit.NoPathError{Tried: tried, Timeout: timeout}
	}
	var np *transit.NoPathError
	if errors.As(err, &np) {
		np.Tried = tried
	}
	return nil, err
}

// tried names the paths a race tries, for the user.
func (l *Link) tried(cfg transit.Config, ice, webrtc bool) []string {
	var out []string
	if cfg.Listener != nil && len(cfg.Peer) > 0 {
		out = append(out, PathDirect)
	}
	if ice {
		out = append(out, "ice")
		if len(l.opts.NAT.TURN) > 0 {
			out = append(out, "turn")
		}
	}
	if webrtc {
		out = append(out, pathWebRTC)
	}
	if len(cfg.Relays) > 0 {
		out = append(out, pathTransitRelay)
	}
	return out
}

func (l *Link) connect(ctx context.Context, w *wormhole.Wormhole, ch *Channel, role transit.Role, peer Transports) (*Conn, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attempt, 3)
	n := 0
	cfg := transit.Config{Key: AttemptKey(w, "ferry/transit/v1", l.opts.Attempt), Role: role, Logger: l.log,
		RelayDelay: transit.DefaultRelayDelay, Relays: l.relays(peer), Dial: l.opts.DialRelay}
	ice := l.ice.ready() && peer.ICE != nil
	webrtc := l.webrtc && peer.WebRTC
	if ice || webrtc {
		// ICE through NATs can take a few seconds; give it a head start
		// over the transit relay, which the sender would otherwise pick
		// if it connected first.
		cfg.RelayDelay = iceHeadStart
	}
	if l.tcp != nil && len(peer.TCP) > 0 {
		cfg.Listener, cfg.Peer = l.tcp, peer.TCP
	}
	if cfg.Listener != nil || len(cfg.Relays) > 0 {
		n++
		go func() {
			c, path, err := transit.Race(ctx, cfg)
			if err != nil {
				results <- attempt{err: fmt.Errorf("tcp: %w", err)}
				return
			}
			if path == transit.PathRelay {
				path = pathTransitRelay
			}
			results <- attempt{conn: newConn(c, path)}
		}()
	}
	if ice {
		n++
		go func() { results <- l.connectICE(ctx, ch, role, peer) }()
	}
	if webrtc {
		n++
		go func() { results <- l.connectWebRTC(ctx, ch, role) }()
	}
	if n == 0 {
		return nil, nil, errors.New("the two sides have no transport in common (see --transport)")
	}
	tried := l.tried(cfg, ice, webrtc)
	l.log.Debug("link: connecting", "paths", tried)
	if l.opts.OnConnecting != nil {
		notice := time.AfterFunc(transit.ConnectingNotice, func() { l.opts.OnConnecting(tried) })
		defer notice.Stop()
	}
	var c *Conn
	var err error
	if role == transit.Sender {
		c, err = l.pick(ctx, ch, results, n)
	} else {
		c, err = l.follow(ctx, ch, results, n)
	}
	return c, tried, err
}

// relays are the transit relays both sides offered: ours, and the peer's
// when they are IP addresses (never a DNS look-up on the peer's say-so),
// at most maxPeerRelays of them; each once (a receiver may have taken
// the sender's as its own, WelcomeLink).
func (l *Link) relays(peer Transports) []string {
	if t := l.opts.Transport; t != TransportAuto && t != TransportRelay {
		return nil
	}
	var out []string
	if l.opts.TransitRelay != "" {
		out = append(out, l.opts.TransitRelay)
	}
	for _, r := range peerRelays(peer) {
		if len(out) == 0 || r != out[0] {
			out = append(out, r)
		}
	}
	return out
}

// peerRelays are the peer's transit relays we would dial (IP:PORT).
func peerRelays(peer Transports) []string {
	var hints []transit.Hint
	for _, r := range peer.Relays[:min(len(peer.Relays), maxPeerRelays)] {
		host, port, err := net.SplitHostPort(r)
		if p, perr := strconv.Atoi(port); err == nil && perr == nil {
			hints = append(hints, transit.Hint{Hostname: host, Port: p})
		}
	}
	var out []string
	for _, ap := range transit.FilterHints(hints) {
		out = append(out, ap.String())
	}
	return out
}

// WithAddressHint returns cfg with the address the relay of w saw us
// connect from as its PublicIPv4Hint: a server-reflexive candidate when
// STUN gives none. A lying relay can only add a candidate that fails.
func WithAddressHint(cfg natconf.Config, w *wormhole.Wormhole) natconf.Config {
	if !cfg.PublicIPv4Hint.IsValid() {
		cfg.PublicIPv4Hint = w.YourAddress()
	}
	return cfg
}
