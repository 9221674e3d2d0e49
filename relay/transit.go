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

	// MaxConns and MaxConnsPerIP bound open connections, paired or not,
	// overall and per remote address (an IPv4 address or an IPv6 /64).
	// Further connections are closed at once. Defaults 1024 and 64.
	MaxConns      int
	MaxConnsPerIP int
	// MaxPending and MaxPendingPerIP bound the connections that have no
	// partner yet (still sending their handshake, or waiting). Defaults
	// 256 and 32.
	MaxPending      int
	MaxPendingPerIP int
	// MaxPendingPerToken bounds the connections waiting with one token
	// (clients may open several from one side; the spares are closed
	// when a partner arrives). Default 4.
	MaxPendingPerToken int
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
	defaultTransitMaxConnsPerIP    = 64
	defaultTransitMaxPending       = 256
	defaultTransitMaxPendingPerIP  = 32
	defaultTransitMaxPendingPerTok = 4
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
	orDefault(&cfg.MaxPending, defaultTransitMaxPending)
	orDefault(&cfg.MaxPendingPerIP, defaultTransitMaxPendingPerIP)
	orDefault(&cfg.MaxPendingPerToken, defaultTransitMaxPendingPerTok)
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
// Create it with NewTransit; it is safe for concurrent use.
type TransitServer struct {
	cfg TransitConfig
	log *slog.Logger

	mu        sync.Mutex
	nConns    int
	connsIP   map[string]int
	nPending  int
	pendingIP map[string]int
	waiting   map[string][]*transitConn // token → connections without a partner
	relaying  map[string]*transitPair   // token → its pair, while it relays
}

// NewTransit returns a transit relay configured by cfg.
func NewTransit(cfg TransitConfig) *TransitServer {
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &TransitServer{
		cfg:       cfg,
		log:       log,
		connsIP:   map[string]int{},
		pendingIP: map[string]int{},
		waiting:   map[string][]*transitConn{},
		relaying:  map[string]*transitPair{},
	}
}

// Serve accepts transit connections on ln until ctx is done, then closes
// ln and every connection it accepted, waits for them to finish and
// returns nil. It returns an error if accepting fails for good before
// that. Serve closes ln.
func (s *TransitServer) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	// Whyever Serve returns, its connections end first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
		tc, reason := s.admit(c)
		if tc == nil {
			s.log.Debug("transit: connection refused", "remote", c.RemoteAddr().String(), "reason", reason)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tc.serve(ctx)
		}()
	}
}

// admit counts a new connection against the limits, or says why not.
func (s *TransitServer) admit(c net.Conn) (*transitConn, string) {
	addr := addrKey(c.RemoteAddr().String())
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.nConns >= s.cfg.MaxConns:
		return nil, "too many connections"
	case s.connsIP[addr] >= s.cfg.MaxConnsPerIP:
		return nil, "too many connections from this address"
	case s.nPending >= s.cfg.MaxPending:
		return nil, "too many unpaired connections"
	case s.pendingIP[addr] >= s.cfg.MaxPendingPerIP:
		return nil, "too many unpaired connections from this address"
	}
	s.nConns++
	s.connsIP[addr]++
	s.nPending++
	s.pendingIP[addr]++
	return &transitConn{s: s, c: c, addr: addr, pending: true, started: time.Now()}, ""
}

// leave uncounts tc, whose connection is closed. Callers hold s.mu.
func (s *TransitServer) leave(tc *transitConn) {
	s.unpend(tc)
	s.nConns--
	if s.connsIP[tc.addr]--; s.connsIP[tc.addr] <= 0 {
		delete(s.connsIP, tc.addr)
	}
}

// unpend uncounts tc as pending, once. Callers hold s.mu.
func (s *TransitServer) unpend(tc *transitConn) {
	if !tc.pending {
		return
	}
	tc.pending = false
	s.nPending--
	if s.pendingIP[tc.addr]--; s.pendingIP[tc.addr] <= 0 {
		delete(s.pendingIP, tc.addr)
	}
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
}

// Stats returns a snapshot of the server's connections.
func (s *TransitServer) Stats() TransitStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return TransitStats{Conns: s.nConns, Pending: s.nPending, Waiting: len(s.waiting), Pairs: len(s.relaying)}
}

// isTemporaryAccept reports whether an Accept error is worth retrying
// (running out of file descriptors or buffers).
func isTemporaryAccept(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}
