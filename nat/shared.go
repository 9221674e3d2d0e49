package nat

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
)

// sharedSocket is one of the agent's UDP sockets (the host candidates', or
// a server-reflexive candidate's: srflxNet), driven by a quic.Transport from
// the moment the agent opens it. quic-go reads every datagram (on a real
// *net.UDPConn with batched reads, GRO and ECN) and hands those that are
// not QUIC, ICE's STUN, to the agent's UDP mux through
// Transport.ReadNonQUICPacket; the mux's STUN goes out through
// Transport.WriteTo. Once ICE has selected a pair whose local candidate is
// a host candidate, QUIC runs over this transport directly (GSO, DPLPMTUD)
// while ICE's consent checks and keepalives keep flowing on the same
// socket: one reader, no handover.
//
// The transport listens from the start, so that the peer's first Initial
// is not dropped (costing a 200 ms retransmission) when it arrives before
// Accept is called: the handshake waits in serverConfig until Accept says
// whom to accept and with which identity. Dial stops the listener.
//
// Relay candidates keep sockets of their own, read by ICE: TURN wraps every
// packet, so QUIC over a relayed pair goes through the ICE connection
// (icePacketConn).
type sharedSocket struct {
	sock net.PacketConn
	tr   *quic.Transport

	ctx    context.Context // ends when the socket is closed
	cancel context.CancelFunc

	ln *quic.Listener // until Dial, or until Accept has its connection

	accepting chan struct{} // closed by startAccept
	mu        sync.Mutex
	peer      net.Addr    // the only address Accept takes a connection from
	conf      *tls.Config // Accept's
	fail      func(error) // tells Accept its peer's connection attempt failed

	closeOnce sync.Once
	closeErr  error
}

// errNotAccepting refuses a QUIC connection attempt from an address other
// than the selected pair's.
var errNotAccepting = errors.New("nat: not accepting this connection")

// newSharedSocket starts a transport on sock; it closes sock if that fails.
func newSharedSocket(sock net.PacketConn) (*sharedSocket, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sharedSocket{sock: sock, ctx: ctx, cancel: cancel, accepting: make(chan struct{})}
	conn := sock
	if _, ok := sock.(*net.UDPConn); !ok {
		// pion's vnet in tests: no socket buffers to size, and quic-go
		// would print a warning on the standard logger about it.
		conn = fixedBuffers{sock}
	}
	s.tr = &quic.Transport{Conn: conn, ConnContext: s.connContext}
	conf := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		SessionTicketsDisabled: true,
		GetConfigForClient:     s.serverConfig,
	}
	ln, err := s.tr.Listen(conf, quicConfig())
	if err != nil {
		_ = s.close()
		return nil, fmt.Errorf("nat: quic listen: %w", err)
	}
	s.ln = ln
	return s, nil
}

// startAccept lets connection attempts from peer go ahead, with Accept's
// TLS configuration, and has fail hear of their failures.
func (s *sharedSocket) startAccept(peer net.Addr, conf *tls.Config, fail func(error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conf != nil {
		return fmt.Errorf("nat: accept: %w", ErrUsedTwice)
	}
	s.peer, s.conf, s.fail = peer, conf, fail
	close(s.accepting)
	return nil
}

// serverConfig holds up each incoming handshake until Accept has started,
// then lets only the peer's proceed.
func (s *sharedSocket) serverConfig(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	select {
	case <-s.accepting:
	case <-s.ctx.Done():
		return nil, net.ErrClosed
	case <-hello.Context().Done():
		return nil, hello.Context().Err()
	}
	s.mu.Lock()
	peer, conf := s.peer, s.conf
	s.mu.Unlock()
	if hello.Conn == nil || !sameUDPAddr(hello.Conn.RemoteAddr(), peer) {
		return nil, errNotAccepting
	}
	return conf, nil
}

// connContext is the transport's ConnContext: Accept hears when a
// connection attempt from its peer ends, notably when its handshake fails
// (one that succeeds never reaches Listener.Accept otherwise).
func (s *sharedSocket) connContext(ctx context.Context, info *quic.ClientInfo) (context.Context, error) {
	from := info.RemoteAddr
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		fail := s.fail
		ours := fail != nil && sameUDPAddr(from, s.peer)
		s.mu.Unlock()
		if ours {
			fail(context.Cause(ctx))
		}
	})
	return ctx, nil
}

// stopListening closes the listener: for Dial, or once Accept is done.
func (s *sharedSocket) stopListening() { _ = s.ln.Close() }

// close stops the transport, which tears down any QUIC connection on it,
// and closes the socket. It is safe to call more than once.
func (s *sharedSocket) close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		err := s.tr.Close() // does not close a Conn it was given
		if cerr := s.sock.Close(); cerr != nil && err == nil {
			err = cerr
		}
		s.closeErr = err
	})
	return s.closeErr
}

// muxConn is the shared socket as ICE's UDP mux sees it: the non-QUIC
// datagrams only.
type muxConn struct{ s *sharedSocket }

func (c muxConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.s.tr.ReadNonQUICPacket(c.s.ctx, p)
	if err != nil {
		if c.s.ctx.Err() != nil {
			return 0, nil, io.EOF // closed: the mux stops without logging
		}
		return 0, nil, fmt.Errorf("nat: read socket: %w", err)
	}
	return n, addr, nil
}

func (c muxConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if _, ok := addr.(*net.UDPAddr); !ok {
		return 0, fmt.Errorf("nat: write to %T: not a UDP address", addr)
	}
	return c.s.tr.WriteTo(p, addr)
}

func (c muxConn) Close() error        { return c.s.close() }
func (c muxConn) LocalAddr() net.Addr { return c.s.sock.LocalAddr() }

// The deadlines do nothing. The mux sets a write deadline only to abandon a
// write still blocked after its context ended; on the shared socket that
// would fail QUIC's writes too. Reads end when the socket closes.
func (muxConn) SetDeadline(time.Time) error      { return nil }
func (muxConn) SetReadDeadline(time.Time) error  { return nil }
func (muxConn) SetWriteDeadline(time.Time) error { return nil }

// fixedBuffers is a socket whose buffers are not to be resized.
type fixedBuffers struct{ net.PacketConn }

func (fixedBuffers) SetReadBuffer(int) error  { return nil }
func (fixedBuffers) SetWriteBuffer(int) error { return nil }

// sameUDPAddr reports whether a and b are the same IP address and port.
func sameUDPAddr(a, b net.Addr) bool {
	ua, ok1 := a.(*net.UDPAddr)
	ub, ok2 := b.(*net.UDPAddr)
	if !ok1 || !ok2 {
		return false
	}
	pa, pb := ua.AddrPort(), ub.AddrPort()
	return netip.AddrPortFrom(pa.Addr().Unmap(), pa.Port()) == netip.AddrPortFrom(pb.Addr().Unmap(), pb.Port())
}
