package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// TransitConfig configures a TransitServer. The zero value is a working
// server with safe limits; every zero (or negative) field means its
// default.
type TransitConfig struct {
	// Logger receives the server's log; nil means silent.
	Logger *slog.Logger

	// MaxConns, MaxConnsPerIP and MaxConnsPerPrefix bound open
	// connections, paired or not: overall, per remote address (an IPv4
	// address or an IPv6 /64) and per prefix (an IPv4 /24 or an IPv6
	// /48). Further connections are closed at once. Defaults 1024, 32 and
	// 128.
	MaxConns          int
	MaxConnsPerIP     int
	MaxConnsPerPrefix int
	// MaxPending, MaxPendingPerIP and MaxPendingPerPrefix bound the
	// connections that have no partner yet (still sending their
	// handshake, or waiting). Defaults 256, 16 and 64.
	MaxPending          int
	MaxPendingPerIP     int
	MaxPendingPerPrefix int
	// MaxPendingPerToken bounds the connections waiting with one token
	// (clients may open several from one side; the spares are closed
	// when a partner arrives). Default 4.
	MaxPendingPerToken int
	// EvictIdleAfter: when MaxConns connections are open, a new one takes
	// the place of the pair that has moved no byte for longest, if that
	// is at least this long. Default 30s.
	EvictIdleAfter time.Duration
	// HandshakeTimeout bounds how long a client may take to send its
	// "please relay" line. Default 30s.
	HandshakeTimeout time.Duration
	// PairTimeout bounds how long a connection waits for its partner;
	// then it is closed. Default 2m (classic clients give up after 60s).
	PairTimeout time.Duration
	// IdleTimeout closes a pair when no byte has moved in either
	// direction for that long. Default 5m.
	IdleTimeout time.Duration
	// WriteTimeout bounds writing the server's own short replies
	// ("ok\n", "bad handshake\n", "impatient\n"). Default 10s.
	WriteTimeout time.Duration
	// BufferBytes is the size of each paired connection's copy buffer,
	// so a pair costs constant memory however much it carries. Default
	// 16 KiB, minimum 256 bytes.
	BufferBytes int
}

// Defaults for the zero values of TransitConfig's fields.
const (
	defaultTransitMaxConns         = 1024
	defaultTransitMaxConnsPerIP    = 32
	defaultTransitMaxConnsPerPfx   = 128
	defaultTransitMaxPending       = 256
	defaultTransitMaxPendingPerIP  = 16
	defaultTransitMaxPendingPerPfx = 64
	defaultTransitMaxPendingPerTok = 4
	defaultTransitEvictIdleAfter   = 30 * time.Second
	defaultTransitHandshakeTimeout = 30 * time.Second
	defaultTransitPairTimeout      = 2 * time.Minute
	defaultTransitIdleTimeout      = 5 * time.Minute
	defaultTransitWriteTimeout     = 10 * time.Second
	defaultTransitBufferBytes      = 16 << 10
	minTransitBufferBytes          = 256
)

func (cfg TransitConfig) withDefaults() TransitConfig {
	orDefault(&cfg.MaxConns, defaultTransitMaxConns)
	orDefault(&cfg.MaxConnsPerIP, defaultTransitMaxConnsPerIP)
	orDefault(&cfg.MaxConnsPerPrefix, max(defaultTransitMaxConnsPerPfx, cfg.MaxConnsPerIP))
	orDefault(&cfg.MaxPending, defaultTransitMaxPending)
	orDefault(&cfg.MaxPendingPerIP, defaultTransitMaxPendingPerIP)
	orDefault(&cfg.MaxPendingPerPrefix, max(defaultTransitMaxPendingPerPfx, cfg.MaxPendingPerIP))
	orDefault(&cfg.MaxPendingPerToken, defaultTransitMaxPendingPerTok)
	orDefault(&cfg.EvictIdleAfter, defaultTransitEvictIdleAfter)
	orDefault(&cfg.HandshakeTimeout, defaultTransitHandshakeTimeout)
	orDefault(&cfg.PairTimeout, defaultTransitPairTimeout)
	orDefault(&cfg.IdleTimeout, defaultTransitIdleTimeout)
	orDefault(&cfg.WriteTimeout, defaultTransitWriteTimeout)
	orDefault(&cfg.BufferBytes, defaultTransitBufferBytes)
	cfg.BufferBytes = max(cfg.BufferBytes, minTransitBufferBytes)
	return cfg
}

// TransitServer is a Magic Wormhole transit relay, compatible with
// magic-wormhole-transit-relay: a client connects over TCP and sends
//
//	please relay TOKEN for side SIDE\n
//
// (TOKEN 64 hex digits, SIDE 16; the older form without " for side
// SIDE" is accepted too). When two connections present the same token and
// different sides (or either has no side), the server answers "ok\n" to
// both and from then on copies bytes between them, in both directions. A
// malformed line gets "bad handshake\n", and bytes sent before "ok\n" get
// "impatient\n", each followed by a close, as the reference server does.
// Spare connections from the same side, connections for a token whose
// pair is already relaying, and connections that time out are closed
// without a reply.
//
// Unlike the reference server, the end of one direction (a half-close)
// is passed on as a half-close and the other direction carries on, until
// it ends too or IdleTimeout passes without traffic.
//
// Clients may also come over WebSocket, through Handler; they are paired
// with TCP clients and with each other alike.
//
// Create it with NewTransit; it is safe for concurrent use. Serve runs it
// on a TCP listener; when Serve returns, or Close is called, the server
// is closed for good.
type TransitServer struct {
	cfg  TransitConfig
	log  *slog.Logger
	base context.Context // done once the server is closed
	stop context.CancelFunc
	live sync.WaitGroup // connections admitted, TCP and WebSocket

	mu       sync.Mutex
	closed   bool
	nConns   int
	nWS      int   // connections over WebSocket, among nConns
	evicting int   // connections of evicted pairs, not yet closed
	conns    tally // open connections per client address and prefix
	nPending int
	pending  tally                     // connections without a partner, per client
	waiting  map[string][]*transitConn // token → connections without a partner
	relaying map[string]*transitPair   // token → its pair, while it relays

	metrics transitMetrics
}

// NewTransit returns a transit relay configured by cfg.
func NewTransit(cfg TransitConfig) *TransitServer {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	return &TransitServer{
		cfg:      cfg,
		log:      log,
		base:     base,
		stop:     stop,
		conns:    newTally(),
		pending:  newTally(),
		waiting:  map[string][]*transitConn{},
		relaying: map[string]*transitPair{},
		metrics:  newTransitMetrics(),
	}
}

// Serve accepts transit connections on ln until ctx is done or the
// server is closed, then closes the server (see Close): ln and every
// connection, those Handler serves included. It waits for them to finish
// and returns nil, or an error if accepting fails for good before that.
// Serve closes ln.
func (s *TransitServer) Serve(ctx context.Context, ln net.Listener) error {
	// Whyever Serve returns, every connection ends first.
	defer s.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if isTemporaryAccept(err) {
				// Out of file descriptors, say: wait and retry, as
				// net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("transit: accept failed; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-ctx.Done():
					return nil
				}
			}
			return fmt.Errorf("relay: transit: accept: %w", err)
		}
		backoff = 0
		tc, reason := s.admit(clientKeyOf(c.RemoteAddr().String()), false)
		if tc == nil {
			s.log.Debug("transit: connection refused", "remote", c.RemoteAddr().String(), "reason", reason)
			c.Close()
			continue
		}
		tc.c = c
		go tc.serve(ctx)
	}
}

// Close closes the server: it stops Serve, closes every connection, TCP
// or WebSocket, waits until they are gone and returns nil. From then on
// Handler refuses WebSocket clients (HTTP 503).
func (s *TransitServer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.live.Wait()
	return nil
}

// admit counts a new connection from addr (over WebSocket if ws) against
// the limits, or says why not. The caller sets its net.Conn, runs it with
// serve, or uncounts it with leave.
func (s *TransitServer) admit(addr clientKey, ws bool) (*transitConn, string) {
	tc, why := s.admitLocked(addr, ws)
	if tc == nil {
		s.metrics.refused.add(transitAdmitReason(why))
	}
	return tc, why
}

// admitLocked is admit without the refusal count.
func (s *TransitServer) admitLocked(addr clientKey, ws bool) (*transitConn, string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, "the relay is shutting down"
	}
	if ok, which := s.conns.fits(addr, 1, int64(s.cfg.MaxConnsPerIP), int64(s.cfg.MaxConnsPerPrefix)); !ok {
		s.mu.Unlock()
		return nil, "too many connections from this " + which
	}
	if ok, which := s.pending.fits(addr, 1, int64(s.cfg.MaxPendingPerIP), int64(s.cfg.MaxPendingPerPrefix)); !ok {
		s.mu.Unlock()
		return nil, "too many unpaired connections from this " + which
	}
	if s.nPending >= s.cfg.MaxPending {
		s.mu.Unlock()
		return nil, "too many unpaired connections"
	}
	var evict *transitPair
	if s.nConns-s.evicting >= s.cfg.MaxConns {
		if evict = s.idlest(); evict == nil {
			s.mu.Unlock()
			return nil, "too many connections"
		}
		// Its connections stay counted until they are closed; until then
		// they count as leaving.
		for _, tc := range evict.conns {
			tc.evicted = true
		}
		s.evicting += 2
	}
	s.nConns++
	if ws {
		s.nWS++
	}
	s.conns.add(addr, 1)
	s.nPending++
	s.pending.add(addr, 1)
	s.live.Add(1)
	s.mu.Unlock()
	if evict != nil {
		s.metrics.refused.add(transitEvicted)
		evict.close("evicted for a new connection: idle while the relay is full")
	}
	return &transitConn{s: s, addr: addr, ws: ws, pending: true, started: time.Now()}, ""
}

// idlest returns the relaying pair that has been idle longest, if that is
// at least cfg.EvictIdleAfter and it is not being evicted already.
// Callers hold s.mu.
func (s *TransitServer) idlest() *transitPair {
	var (
		best *transitPair
		last int64
	)
	for _, p := range s.relaying {
		if p.conns[0].evicted {
			continue
		}
		if l := p.last.Load(); best == nil || l < last {
			best, last = p, l
		}
	}
	if best == nil || time.Since(time.Unix(0, last)) < s.cfg.EvictIdleAfter {
		return nil
	}
	return best
}

// leave uncounts tc, whose connection is closed. Callers hold s.mu.
func (s *TransitServer) leave(tc *transitConn) {
	s.unpend(tc)
	s.nConns--
	if tc.ws {
		s.nWS--
	}
	s.conns.add(tc.addr, -1)
	if tc.evicted {
		s.evicting--
	}
	s.live.Done()
}

// unpend uncounts tc as pending, once. Callers hold s.mu.
func (s *TransitServer) unpend(tc *transitConn) {
	if !tc.pending {
		return
	}
	tc.pending = false
	s.nPending--
	s.pending.add(tc.addr, -1)
}

// unwait removes tc from its token's waiting list, if it is there.
// Callers hold s.mu.
func (s *TransitServer) unwait(tc *transitConn) {
	list := s.waiting[tc.token]
	for i, w := range list {
		if w == tc {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.waiting, tc.token)
	} else {
		s.waiting[tc.token] = list
	}
}

// TransitStats is a snapshot of a TransitServer's connections.
type TransitStats struct {
	Conns   int // open connections
	Pending int // connections without a partner
	Waiting int // tokens with a connection waiting for its partner
	Pairs   int // pairs relaying
	// WebSockets counts the connections, among Conns, that came
	// through Handler.
	WebSockets int
}

// Stats returns a snapshot of the server's connections.
func (s *TransitServer) Stats() TransitStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return TransitStats{Conns: s.nConns, Pending: s.nPending, Waiting: len(s.waiting), Pairs: len(s.relaying), WebSockets: s.nWS}
}

// isTemporaryAccept reports whether an Accept error is worth retrying
// (running out of file descriptors or buffers).
func isTemporaryAccept(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// MemoryBudget is about the memory the transit relay's connections may
// hold at its limits: each connection's copy buffer (BufferBytes), and as
// much again for its reads and, on the WebSocket side, framing.
func (t *TransitServer) MemoryBudget() int64 {
	return int64(t.cfg.MaxConns) * int64(t.cfg.BufferBytes) * 2
}
