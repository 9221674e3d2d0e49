// Package transit makes direct TCP connections between two wormhole
// peers, as Magic Wormhole's transit protocol does: each side listens and
// offers its addresses as hints, both dial each other's hints at once, and
// every connection must prove it knows the transit key (derived from the
// PAKE key) before any data flows. The sender picks the first connection
// that completes the handshake ("go\n") and turns the others away
// ("nevermind\n").
package transit

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits on what a peer may make us do.
const (
	MaxHints         = 16 // peer hints we dial; the rest are ignored
	MaxRelays        = 8  // transit relays we dial
	handshakeTimeout = 10 * time.Second
	answerWait       = 250 * time.Millisecond // see race.try
)

// Role says which handshake line a side sends.
type Role int

// The two roles.
const (
	Sender Role = iota
	Receiver
)

// Hint is a direct-tcp-v1 hint: an address where a peer listens.
type Hint struct {
	Type     string  `json:"type"`
	Hostname string  `json:"hostname"`
	Port     int     `json:"port"`
	Priority float64 `json:"priority,omitempty"`
}

// Listener accepts the peer's connections.
type Listener struct {
	ln net.Listener
}

// Listen opens a TCP listener on addr (":0" for any free port).
func Listen(ctx context.Context, addr string) (*Listener, error) {
	lc := net.ListenConfig{Control: control}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for direct connections: %w", err)
	}
	return &Listener{ln: ln}, nil
}

// Close stops accepting.
func (l *Listener) Close() error { return l.ln.Close() }

// pause ends the Accept calls of a race without closing the listener, so
// that another race (a stripe's) can use it; a listener that cannot be
// paused is closed.
func (l *Listener) pause() {
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok && d.SetDeadline(time.Now()) == nil {
		return
	}
	l.ln.Close()
}

// resume undoes pause.
func (l *Listener) resume() {
	if d, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
		d.SetDeadline(time.Time{})
	}
}

// Hints lists the addresses the peer may dial: the listening address if it
// is specific, else every address of this machine's interfaces.
func (l *Listener) Hints() []Hint {
	ap, err := netip.ParseAddrPort(l.ln.Addr().String())
	if err != nil {
		return nil
	}
	port := int(ap.Port())
	if !ap.Addr().IsUnspecified() {
		return []Hint{{Type: "direct-tcp-v1", Hostname: ap.Addr().Unmap().String(), Port: port}}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var hints []Hint
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr()
		if ip.IsLinkLocalUnicast() || ip.IsMulticast() {
			continue // link-local needs a zone the peer cannot know
		}
		prio := 1.0
		if ip.IsLoopback() {
			prio = 0.5
		}
		hints = append(hints, Hint{Type: "direct-tcp-v1", Hostname: ip.String(), Port: port, Priority: prio})
	}
	return hints
}

// FilterHints keeps the peer hints worth dialing: IP literals (no DNS
// look-ups on the peer's say-so), unicast, a real port, no duplicates, at
// most MaxHints.
func FilterHints(hints []Hint) []netip.AddrPort {
	var out []netip.AddrPort
	seen := map[netip.AddrPort]bool{}
	for _, h := range hints {
		if len(out) == MaxHints {
			break
		}
		ip, err := netip.ParseAddr(h.Hostname)
		if err != nil || h.Port <= 0 || h.Port > 65535 {
			continue
		}
		ip = ip.Unmap()
		if ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip == netip.IPv4Unspecified() ||
			ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || ip.Zone() != "" {
			continue
		}
		ap := netip.AddrPortFrom(ip, uint16(h.Port))
		if !seen[ap] {
			seen[ap] = true
			out = append(out, ap)
		}
	}
	return out
}

func derive(key []byte, purpose string) []byte {
	b, _ := hkdf.Key(sha256.New, key, nil, purpose, 32)
	return b
}

// handshakes returns the line we send and the line we expect.
func handshakes(key []byte, role Role) (mine, theirs []byte) {
	s := []byte("transit sender " + hex.EncodeToString(derive(key, "transit_sender")) + " ready\n\n")
	r := []byte("transit receiver " + hex.EncodeToString(derive(key, "transit_receiver")) + " ready\n\n")
	if role == Sender {
		return s, r
	}
	return r, s
}

// Config is one connection attempt.
type Config struct {
	Key      []byte    // transit key (from the PAKE key)
	Role     Role      // sender or receiver
	Listener *Listener // ours; may be nil
	Peer     []Hint    // the other side's hints
	// Relays are transit relays ("host:port", or "ws://HOST/transit"
	// with Dial DialWebSocket) both sides may meet at; the caller
	// filters the peer's. They are dialed after RelayDelay when direct
	// paths exist, at once otherwise.
	Relays     []string
	RelayDelay time.Duration
	Dial       DialFunc // nil: a plain TCP dial
	Logger     *slog.Logger
}

// DefaultRelayDelay gives direct connections a head start over relays,
// as the Python client does.
const DefaultRelayDelay = 2 * time.Second

// Paths a connection can take.
const (
	PathDirect = "direct tcp"
	PathRelay  = "relay"
)

// DialFunc opens a connection to addr, a peer hint's or a relay's: TCP
// by default; DialWebSocket for relays given by WebSocket URL; tests
// substitute their own. Race uses it for every address it dials.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// Connect races our listener against dials to every peer hint and returns
// the first connection whose handshake proves the peer holds the key.
func Connect(ctx context.Context, cfg Config) (net.Conn, error) {
	c, _, err := Race(ctx, cfg)
	return c, err
}

// Race is Connect that also says which path won (PathDirect or PathRelay).
func Race(ctx context.Context, cfg Config) (net.Conn, string, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dial := cfg.Dial
	if dial == nil {
		d := net.Dialer{Control: control}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &race{key: cfg.Key, role: cfg.Role, won: make(chan winner, 1), log: log}
	var wg sync.WaitGroup
	if cfg.Listener != nil {
		// The listener outlives the race: it stops accepting when the
		// race is over (its connections were handed over or failed), and
		// a later race may use it again.
		cfg.Listener.resume()
		accepting := make(chan struct{})
		wg.Add(1)
		go func() { defer wg.Done(); defer close(accepting); r.accept(ctx, cfg.Listener.ln) }()
		defer func() { // synchronously: an AfterFunc could pause the next race's listener
			cancel()
			cfg.Listener.pause()
			<-accepting
		}()
	}
	peer := FilterHints(cfg.Peer)
	for _, ap := range peer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, ap.String())
			if err != nil {
				log.Debug("transit: dial failed", "addr", ap, "err", err)
				return
			}
			r.try(ctx, c, PathDirect)
		}()
	}
	delay := time.Duration(0)
	if cfg.Listener != nil || len(peer) > 0 {
		delay = cfg.RelayDelay
	}
	side := make([]byte, 8)
	rand.Read(side)
	relays := dedupe(cfg.Relays)
	for _, addr := range relays[:min(len(relays), MaxRelays)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.relay(ctx, dial, addr, hex.EncodeToString(side), delay)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case w := <-r.won:
		return w.c, w.path, nil
	case <-done:
		select {
		case w := <-r.won:
			return w.c, w.path, nil
		default:
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		return nil, "", errors.New("no connection to the other side succeeded")
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

func dedupe(addrs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// relay meets the peer at a transit relay: "please relay TOKEN for side
// SIDE\n", answered "ok\n" once the peer asked with the same token; then
// the usual handshake runs through it.
func (r *race) relay(ctx context.Context, dial DialFunc, addr, side string, delay time.Duration) {
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
	}
	c, err := dial(ctx, addr)
	if err != nil {
		r.log.Debug("transit: relay dial failed", "addr", addr, "err", err)
		return
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	line := "please relay " + hex.EncodeToString(derive(r.key, "transit_relay_token")) + " for side " + side + "\n"
	if _, err := io.WriteString(c, line); err != nil {
		stop()
		c.Close()
		return
	}
	// The relay answers only once the peer arrived; ctx bounds the wait.
	ok := make([]byte, 3)
	_, err = io.ReadFull(c, ok)
	stop()
	if err != nil || string(ok) != "ok\n" {
		r.log.Debug("transit: relay refused", "addr", addr, "reply", string(ok), "err", err)
		c.Close()
		return
	}
	r.log.Debug("transit: relay paired", "addr", addr)
	r.try(ctx, c, PathRelay)
}

type winner struct {
	c    net.Conn
	path string
}

type race struct {
	key  []byte
	role Role
	log  *slog.Logger
	mu   sync.Mutex
	done bool
	won  chan winner
}

func (r *race) accept(ctx context.Context, ln net.Listener) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for n := 0; n < 4*MaxHints; n++ { // bounded: junk connections cannot keep us busy forever
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() { defer wg.Done(); r.try(ctx, c, PathDirect) }()
	}
}

// try runs the handshake on c and, for the first to finish, hands c over.
func (r *race) try(ctx context.Context, c net.Conn, path string) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	deadline := time.Now().Add(handshakeTimeout)
	c.SetDeadline(deadline)
	mine, theirs := handshakes(r.key, r.role)
	got := make([]byte, len(theirs))
	n := 0
	if r.role == Receiver {
		// A receiver answers the sender's handshake rather than speaking
		// first, when the sender is quick: wormhole-william 1.0.6's sender
		// can close its own relay connection when our line is already
		// waiting as it reads (a race in its waitForRelayPeer). It waits
		// only briefly, so a sender that waits for us still connects.
		c.SetReadDeadline(time.Now().Add(answerWait))
		n, _ = io.ReadFull(c, got)
		if ctx.Err() != nil {
			c.Close()
			return
		}
		c.SetDeadline(deadline)
	}
	if _, err := c.Write(mine); err != nil {
		c.Close()
		return
	}
	if _, err := io.ReadFull(c, got[n:]); err != nil || !bytes.Equal(got, theirs) {
		r.log.Debug("transit: handshake failed", "remote", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	if r.role == Sender {
		r.mu.Lock()
		first := !r.done
		r.done = true
		r.mu.Unlock()
		if !first {
			c.Write([]byte("nevermind\n"))
			c.Close()
			return
		}
		if _, err := c.Write([]byte("go\n")); err != nil {
			c.Close()
			return
		}
	} else {
		word := make([]byte, 3)
		if _, err := io.ReadFull(c, word); err != nil || string(word) != "go\n" {
			c.Close()
			return
		}
		r.mu.Lock()
		first := !r.done
		r.done = true
		r.mu.Unlock()
		if !first { // cannot happen with an honest sender
			c.Close()
			return
		}
	}
	// Unhook the cancellation before handing c over: Connect's caller
	// keeps c after ctx ends.
	if !stop() {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	r.log.Debug("transit: connected", "remote", c.RemoteAddr(), "path", path)
	r.won <- winner{c, path}
}
