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
	handshakeTimeout = 10 * time.Second
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
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for direct connections: %w", err)
	}
	return &Listener{ln: ln}, nil
}

// Close stops accepting.
func (l *Listener) Close() error { return l.ln.Close() }

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
	Dial     DialFunc  // nil: a plain TCP dial
	Logger   *slog.Logger
}

// DialFunc opens a TCP connection (tests and relays substitute their own).
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// Connect races our listener against dials to every peer hint and returns
// the first connection whose handshake proves the peer holds the key.
func Connect(ctx context.Context, cfg Config) (net.Conn, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &race{key: cfg.Key, role: cfg.Role, won: make(chan net.Conn, 1), log: log}
	var wg sync.WaitGroup
	if cfg.Listener != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.accept(ctx, cfg.Listener.ln) }()
		context.AfterFunc(ctx, func() { cfg.Listener.ln.Close() })
	}
	for _, ap := range FilterHints(cfg.Peer) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, ap.String())
			if err != nil {
				log.Debug("transit: dial failed", "addr", ap, "err", err)
				return
			}
			r.try(ctx, c)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case c := <-r.won:
		return c, nil
	case <-done:
		select {
		case c := <-r.won:
			return c, nil
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errors.New("no direct connection to the other side succeeded")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type race struct {
	key  []byte
	role Role
	log  *slog.Logger
	mu   sync.Mutex
	done bool
	won  chan net.Conn
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
		go func() { defer wg.Done(); r.try(ctx, c) }()
	}
}

// try runs the handshake on c and, for the first to finish, hands c over.
func (r *race) try(ctx context.Context, c net.Conn) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	mine, theirs := handshakes(r.key, r.role)
	if _, err := c.Write(mine); err != nil {
		c.Close()
		return
	}
	got := make([]byte, len(theirs))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, theirs) {
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
	c.SetDeadline(time.Time{})
	r.log.Debug("transit: connected", "remote", c.RemoteAddr())
	r.won <- c
}
