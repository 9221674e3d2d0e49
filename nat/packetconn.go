package nat

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/pion/ice/v4"
)

// PacketConn is a datagram path to a single peer: what Agent.Connect returns
// and what Dial and Accept run QUIC over. WriteTo ignores its address and
// sends to the peer. When the selected pair's local candidate is a host or
// server-reflexive one, QUIC reads the socket itself and ReadFrom fails;
// otherwise (a relayed pair) ReadFrom always reports RemoteAddr.
type PacketConn interface {
	net.PacketConn
	RemoteAddr() net.Addr
}

// icePacketConn adapts an ICE connection (a stream of datagrams over the
// selected candidate pair, which may change) to a PacketConn with fixed
// addresses, as quic-go expects of a peer that does not migrate.
type icePacketConn struct {
	conn   *ice.Conn
	agent  *Agent
	local  net.Addr
	remote net.Addr
}

func newPacketConn(conn *ice.Conn, a *Agent) *icePacketConn {
	return &icePacketConn{conn: conn, agent: a, local: conn.LocalAddr(), remote: conn.RemoteAddr()}
}

func (c *icePacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, err := c.conn.Read(p)
		if errors.Is(err, io.ErrShortBuffer) {
			continue // an oversized datagram, already dropped: not QUIC
		}
		return n, c.remote, err
	}
}

func (c *icePacketConn) WriteTo(p []byte, _ net.Addr) (int, error) { return c.conn.Write(p) }

// Close closes the whole agent: the connection's lifetime is the agent's.
func (c *icePacketConn) Close() error { return c.agent.Close() }

func (c *icePacketConn) LocalAddr() net.Addr                { return c.local }
func (c *icePacketConn) RemoteAddr() net.Addr               { return c.remote }
func (c *icePacketConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *icePacketConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *icePacketConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// SetReadBuffer and SetWriteBuffer do nothing: the agent sized the real
// socket's buffers when it opened it. quic-go calls them and would otherwise
// print a warning on the standard logger.
func (c *icePacketConn) SetReadBuffer(int) error  { return nil }
func (c *icePacketConn) SetWriteBuffer(int) error { return nil }

// errSocketDriven is what reading a socketPacketConn returns.
var errSocketDriven = errors.New("nat: the path's socket is read by QUIC (use Dial or Accept)")

// socketPacketConn is the path Connect returns when the selected pair's
// local candidate is a host or server-reflexive one, on a shared socket: Dial
// and Accept then run QUIC on the socket's quic.Transport (sharedSocket)
// instead of through the ICE connection. Only they can read from it;
// WriteTo sends to the peer through the transport.
type socketPacketConn struct {
	shared *sharedSocket
	agent  *Agent
	local  net.Addr
	remote net.Addr
}

func (c *socketPacketConn) ReadFrom([]byte) (int, net.Addr, error) { return 0, nil, errSocketDriven }

func (c *socketPacketConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	return c.shared.tr.WriteTo(p, c.remote)
}

// Close closes the whole agent, as icePacketConn's does.
func (c *socketPacketConn) Close() error { return c.agent.Close() }

func (c *socketPacketConn) LocalAddr() net.Addr  { return c.local }
func (c *socketPacketConn) RemoteAddr() net.Addr { return c.remote }

// The deadlines do nothing: the socket is shared with ICE and QUIC.
func (c *socketPacketConn) SetDeadline(time.Time) error      { return nil }
func (c *socketPacketConn) SetReadDeadline(time.Time) error  { return nil }
func (c *socketPacketConn) SetWriteDeadline(time.Time) error { return nil }
