package transfer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/nat"
)

// Transport choices for --transport.
const (
	TransportAuto  = "auto"  // race everything, prefer direct TCP
	TransportTCP   = "tcp"   // direct TCP only
	TransportICE   = "ice"   // ICE with QUIC (host and server-reflexive pairs)
	TransportRelay = "relay" // ICE with QUIC through a TURN server only
)

// Paths a connection can take, besides "ice host", "ice srflx" and the like.
const (
	PathDirect       = transit.PathDirect // direct TCP
	pathTransitRelay = "transit relay"    // TCP through a transit relay
	pathICERelay     = "ice relay (turn)" // QUIC through a TURN relay
)

// iceHeadStart is how long the transit relay waits when ICE may still
// connect.
const iceHeadStart = 5 * time.Second

// maxPeerRelays caps the transit relays we dial on the peer's say-so.
const maxPeerRelays = 2

// rank orders paths: direct TCP (kernel TCP on a LAN is the fastest),
// then ICE, then relays, the transit relay last.
func rank(path string) int {
	switch path {
	case PathDirect:
		return 4
	case pathICERelay:
		return 2
	case pathTransitRelay:
		return 1
	}
	return 3
}

// tcpGrace is how long an ICE connection waits for a direct TCP one that
// may still win: kernel TCP on a LAN is the fastest path.
const tcpGrace = 300 * time.Millisecond

// Chosen is the byte the sender writes on the connection it picked.
const Chosen = 'G'

// CheckTransport validates a --transport value.
func CheckTransport(t string) error {
	switch t {
	case "", TransportAuto, TransportTCP, TransportICE, TransportRelay:
		return nil
	}
	return fmt.Errorf("unknown transport %q (want auto, tcp, ice or relay)", t)
}

// LinkOptions say how a side may connect to its peer.
type LinkOptions struct {
	Transport string     // TransportAuto when empty
	ListenTCP string     // where to listen for direct connections; ":0" when empty
	NAT       nat.Config // STUN and TURN servers for ICE
	// TransitRelay is a transit relay (HOST:PORT) where both sides may
	// meet when neither a direct connection nor ICE works; "" for none.
	TransitRelay string
	// ConnectTimeout bounds the race for a connection
	// (transit.DefaultConnectTimeout when 0); IdleTimeout bounds how long
	// the chosen connection may carry nothing (transit.DefaultIdleTimeout
	// when 0).
	ConnectTimeout, IdleTimeout time.Duration
	// OnConnecting, if set, is told the paths being tried when no
	// connection has been made within transit.ConnectingNotice.
	OnConnecting func(paths []string)
	Logger       *slog.Logger
}

// Link is one side's half of the connection race.
type Link struct {
	opts  LinkOptions
	log   *slog.Logger
	tcp   *transit.Listener
	agent *nat.Agent
	id    *nat.Identity
	local chan nat.Signal // our trickled ICE candidates, until sent
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
	if auto || opts.Transport == TransportTCP {
		ln, err := transit.Listen(ctx, opts.ListenTCP)
		if err != nil {
			return nil, tr, err
		}
		l.tcp, tr.TCP = ln, ln.Hints()
	}
	if (auto || opts.Transport == TransportRelay) && opts.TransitRelay != "" {
		tr.Relays = []string{opts.TransitRelay}
	}
	if opts.Transport != TransportTCP {
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
			tr.Fingerprint = hex.EncodeToString(l.id.Fingerprint())
		}
	}
	return l, tr, nil
}

func (l *Link) prepareICE(relayOnly bool) (*ICEParams, error) {
	cfg := l.opts.NAT
	cfg.RelayOnly = relayOnly
	if l.opts.Transport == TransportICE {
		cfg.TURN = nil // host and server-reflexive pairs: --transport relay is the relay
	}
	cfg.Logger = l.log
	agent, err := nat.NewAgent(cfg)
	if err != nil {
		return nil, fmt.Errorf("set up ICE: %w", err)
	}
	id, err := nat.NewIdentity()
	if err != nil {
		agent.Close()
		return nil, fmt.Errorf("set up ICE: %w", err)
	}
	l.agent, l.id = agent, id
	l.local = make(chan nat.Signal, maxQueuedCandidates)
	err = agent.Gather(func(s nat.Signal) {
		select {
		case l.local <- s:
		default: // more candidates than the peer will take anyway
		}
	})
	if err != nil {
		return nil, fmt.Errorf("gather ICE candidates: %w", err)
	}
	creds := <-l.local // Gather emits the credentials first, synchronously
	return &ICEParams{Ufrag: creds.Ufrag, Pwd: creds.Pwd}, nil
}

// Close releases listeners and agents.
func (l *Link) Close() error {
	if l.tcp != nil {
		l.tcp.Close()
	}
	if l.agent != nil {
		l.agent.Close()
	}
	return nil
}

// Conn is the connection the race produced, and which path won. Once the
// race is decided its reads and writes have the link's idle timeout.
type Conn struct {
	io.ReadWriteCloser
	Path string // "direct tcp", "ice host", "ice relay", …
	raw  io.ReadWriteCloser
}

func newConn(c io.ReadWriteCloser, path string) *Conn {
	return &Conn{ReadWriteCloser: c, Path: path, raw: c}
}

// Abort ends the connection at once, unblocking a Read or Write in
// another goroutine (closing a QUIC stream while a Write is blocked on it
// is not allowed, and an orderly Close waits for the peer).
func (c *Conn) Abort() {
	if a, ok := c.raw.(interface{ Abort() }); ok {
		a.Abort()
		return
	}
	_ = c.raw.Close()
}

// CloseAfterPeer ends a connection on which we wrote the last word: it
// closes our write side where the path can, waits at most wait for the
// peer to close (so that what we wrote is not lost to a reset), and
// closes.
func (c *Conn) CloseAfterPeer(wait time.Duration) error {
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if d, ok := c.raw.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Now().Add(wait))
		var b [512]byte
		for {
			if _, err := c.raw.Read(b[:]); err != nil {
				break
			}
		}
	}
	return c.raw.Close()
}

// End closes the connection after a transfer that ended with err: in
// order after a success, at once after a failure (the peer may be gone,
// and an orderly close would wait for it).
func (c *Conn) End(err error) {
	if err != nil {
		c.Abort()
		return
	}
	_ = c.Close()
}

// Why returns the cause of err, a failed read or write on the connection
// or in a layer above it (the OpenPGP reader keeps only its own
// message): ErrStalled when the idle timeout ended it, else err.
func (c *Conn) Why(err error) error {
	if ic, ok := c.ReadWriteCloser.(*transit.IdleConn); ok && err != nil {
		if serr := ic.Stalled(); serr != nil {
			return serr
		}
	}
	return err
}

func (c *Conn) limitIdle(d time.Duration) {
	c.ReadWriteCloser = transit.WithIdle(c.raw, d)
}

type attempt struct {
	conn *Conn
	err  error
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
func (l *Link) tried(cfg transit.Config, ice bool) []string {
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
	if len(cfg.Relays) > 0 {
		out = append(out, pathTransitRelay)
	}
	return out
}

func (l *Link) connect(ctx context.Context, w *wormhole.Wormhole, ch *Channel, role transit.Role, peer Transports) (*Conn, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan attempt, 2)
	n := 0
	cfg := transit.Config{Key: w.Key("ferry/transit/v1", 32), Role: role, Logger: l.log,
		RelayDelay: transit.DefaultRelayDelay, Relays: l.relays(peer)}
	if l.agent != nil && peer.ICE != nil {
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
	ice := l.agent != nil && peer.ICE != nil
	if ice {
		n++
		go func() { results <- l.connectICE(ctx, ch, role, peer) }()
	}
	if n == 0 {
		return nil, nil, errors.New("the two sides have no transport in common (see --transport)")
	}
	tried := l.tried(cfg, ice)
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
// at most maxPeerRelays of them.
func (l *Link) relays(peer Transports) []string {
	if t := l.opts.Transport; t != TransportAuto && t != TransportRelay {
		return nil
	}
	var out []string
	if l.opts.TransitRelay != "" {
		out = append(out, l.opts.TransitRelay)
	}
	var hints []transit.Hint
	for _, r := range peer.Relays[:min(len(peer.Relays), maxPeerRelays)] {
		host, port, err := net.SplitHostPort(r)
		if p, perr := strconv.Atoi(port); err == nil && perr == nil {
			hints = append(hints, transit.Hint{Hostname: host, Port: p})
		}
	}
	for _, ap := range transit.FilterHints(hints) {
		out = append(out, ap.String())
	}
	return out
}

func (l *Link) connectICE(ctx context.Context, ch *Channel, role transit.Role, peer Transports) attempt {
	fp, err := hex.DecodeString(peer.Fingerprint)
	if err != nil || len(fp) == 0 {
		return attempt{err: errors.New("ice: the other side sent no usable certificate fingerprint")}
	}
	if err := l.agent.Apply(nat.Signal{Ufrag: peer.ICE.Ufrag, Pwd: peer.ICE.Pwd}); err != nil {
		return attempt{err: fmt.Errorf("ice: %w", err)}
	}
	go func() { // trickle ours out
		for {
			select {
			case s := <-l.local:
				if ch.Send(ctx, Envelope{Ferry: &Ferry{ICE: &s}}) != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { // and theirs in
		for {
			select {
			case s := <-ch.Candidates():
				if err := l.agent.Apply(s); err != nil {
					l.log.Debug("link: refusing peer candidate", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	pc, err := l.agent.Connect(ctx, role == transit.Sender)
	if err != nil {
		return attempt{err: fmt.Errorf("ice: %w", err)}
	}
	var st *nat.Stream
	if role == transit.Sender {
		st, err = nat.Dial(ctx, pc, l.id, fp)
	} else {
		st, err = nat.Accept(ctx, pc, l.id, fp)
	}
	if err != nil {
		return attempt{err: fmt.Errorf("ice: quic: %w", err)}
	}
	local, remote := l.agent.SelectedPair()
	path := "ice " + string(local)
	switch {
	case local == nat.Relay || remote == nat.Relay:
		path = pathICERelay
	case local != remote:
		path = fmt.Sprintf("ice %s/%s", local, remote)
	}
	return attempt{conn: newConn(st, path)}
}

// pick is the sender's choice.
func (l *Link) pick(ctx context.Context, ch *Channel, results <-chan attempt, n int) (*Conn, error) {
	var best *Conn
	var errs []error
	var grace <-chan time.Time
	for n > 0 && (best == nil || best.Path != PathDirect) {
		select {
		case a := <-results:
			n--
			switch {
			case a.err != nil:
				errs = append(errs, a.err)
			case best == nil || rank(a.conn.Path) > rank(best.Path):
				if best != nil {
					best.Close()
				}
				best = a.conn
				grace = time.After(tcpGrace)
			default:
				a.conn.Close()
			}
		case <-grace:
			n = 0
		case <-ch.PeerFailed():
			if best != nil {
				best.Abort()
			}
			go closeLate(results, n)
			return nil, ch.failedConnect()
		case <-ctx.Done():
			if best != nil {
				best.Abort()
			}
			go closeLate(results, n)
			return nil, ctx.Err()
		}
	}
	if best == nil {
		return nil, &transit.NoPathError{Err: errors.Join(errs...)}
	}
	go closeLate(results, n)
	if _, err := best.Write([]byte{Chosen}); err != nil {
		best.Abort()
		return nil, fmt.Errorf("connect to the other side: %w", err)
	}
	l.log.Debug("link: chose", "path", best.Path)
	return best, nil
}

// follow is the receiver's side of pick: the first connection to carry
// the sender's mark wins; the others are closed.
func (l *Link) follow(ctx context.Context, ch *Channel, results <-chan attempt, n int) (*Conn, error) {
	marked := make(chan *Conn, n)
	var errs []error
	var open []*Conn
	pending, reading := n, 0
	abort := func() {
		for _, o := range open {
			o.Abort()
		}
		go closeLate(results, pending)
	}
	for {
		select {
		case a := <-results:
			pending--
			if a.err != nil {
				errs = append(errs, a.err)
			} else {
				open = append(open, a.conn)
				reading++
				go func(c *Conn) {
					b := make([]byte, 1)
					if _, err := io.ReadFull(c, b); err == nil && b[0] == Chosen {
						marked <- c
						return
					}
					marked <- nil
				}(a.conn)
			}
			if pending == 0 && reading == 0 {
				return nil, &transit.NoPathError{Err: errors.Join(errs...)}
			}
		case c := <-marked:
			if c == nil {
				if reading--; reading == 0 && pending == 0 {
					return nil, &transit.NoPathError{Err: errors.New("the sender chose no connection")}
				}
				continue
			}
			for _, o := range open {
				if o != c {
					o.Close()
				}
			}
			go closeLate(results, pending)
			l.log.Debug("link: sender chose", "path", c.Path)
			return c, nil
		case <-ch.PeerFailed():
			abort()
			return nil, ch.failedConnect()
		case <-ctx.Done():
			abort()
			return nil, ctx.Err()
		}
	}
}

// closeLate closes connections that finish after the race was decided.
func closeLate(results <-chan attempt, n int) {
	for range n {
		if a := <-results; a.conn != nil {
			a.conn.Close()
		}
	}
}
