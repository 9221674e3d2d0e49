package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Transport choices for --transport.
const (
	TransportAuto  = "auto"  // race everything, prefer direct TCP
	TransportTCP   = "tcp"   // direct TCP only
	TransportICE   = "ice"   // ICE (host/server-reflexive pairs) with QUIC only
	TransportRelay = "relay" // ICE through a TURN relay only
)

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
	Transport string // TransportAuto when empty
	ListenTCP string // where to listen for direct connections; ":0" when empty
	Logger    *slog.Logger
}

// Link is one side's half of the connection race.
type Link struct {
	opts LinkOptions
	log  *slog.Logger
	tcp  *transit.Listener
}

// PrepareLink opens what the peer will connect to and returns how to
// reach it.
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
	var tr Transports
	if opts.Transport == TransportAuto || opts.Transport == TransportTCP {
		ln, err := transit.Listen(ctx, opts.ListenTCP)
		if err != nil {
			return nil, tr, err
		}
		l.tcp = ln
		tr.TCP = ln.Hints()
	}
	if opts.Transport == TransportICE || opts.Transport == TransportRelay {
		l.Close()
		return nil, tr, fmt.Errorf("transport %q is not available in this build", opts.Transport)
	}
	return l, tr, nil
}

// Close releases listeners and agents.
func (l *Link) Close() error {
	if l.tcp != nil {
		return l.tcp.Close()
	}
	return nil
}

// Conn is the connection the race produced, and which path won.
type Conn struct {
	io.ReadWriteCloser
	Path string // "direct tcp", "ice host", "ice relay", …
}

// Connect races every path both sides offered and returns the winner.
func (l *Link) Connect(ctx context.Context, w *wormhole.Wormhole, role transit.Role, peer Transports) (*Conn, error) {
	key := w.Key("ferry/transit/v1", 32)
	if l.tcp == nil || len(peer.TCP) == 0 {
		return nil, errors.New("the two sides have no transport in common")
	}
	c, err := transit.Connect(ctx, transit.Config{Key: key, Role: role, Listener: l.tcp, Peer: peer.TCP, Logger: l.log})
	if err != nil {
		return nil, fmt.Errorf("connect to the other side: %w", err)
	}
	l.log.Debug("link: connected", "path", "direct tcp", "remote", c.RemoteAddr())
	return &Conn{ReadWriteCloser: c, Path: "direct tcp"}, nil
}

// CloseWrite half-closes a TCP connection so the peer sees the end.
func CloseWrite(c io.ReadWriteCloser) {
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
	}
}
