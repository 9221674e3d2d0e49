package nat

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/transport/v5"
)

// srflxSockets are the sockets of the agent's server-reflexive candidates
// (one per STUN server), each driven by a quic.Transport as the host socket
// is (sharedSocket), so that QUIC over a pair using one runs on it
// directly. Connect finds them by local port.
type srflxSockets struct {
	mu     sync.Mutex
	byPort map[int]*sharedSocket
}

func (r *srflxSockets) add(port int, s *sharedSocket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byPort == nil {
		r.byPort = make(map[int]*sharedSocket)
	}
	r.byPort[port] = s
}

func (r *srflxSockets) remove(port int, s *sharedSocket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byPort[port] == s {
		delete(r.byPort, port)
	}
}

func (r *srflxSockets) lookup(port int) *sharedSocket {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byPort[port]
}

// srflxNet is the network given to ice: ice opens each server-reflexive
// candidate's socket with ListenUDP on port 0 (no port range is set), and
// srflxNet hands it a candidateConn on a shared socket instead. Other
// sockets pass through: mDNS binds port 5353 with ListenUDP, and TURN
// clients' sockets come from ListenPacket (relayed pairs keep the ICE
// connection: TURN wraps every packet).
type srflxNet struct {
	transport.Net
	sockets *srflxSockets
}

func (n srflxNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	anyPort := laddr != nil && laddr.Port == 0 // before: vnet writes the port it picks into laddr
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil || !anyPort {
		return c, err
	}
	port := 0
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		port = a.Port
	}
	s, err := newSharedSocket(c)
	if err != nil {
		return nil, err // newSharedSocket closed c
	}
	n.sockets.add(port, s)
	return newCandidateConn(s, func() { n.sockets.remove(port, s) }), nil
}

var _ transport.UDPConn = (*candidateConn)(nil)

// errSharedSocket is what candidateConn's unused methods return.
var errSharedSocket = errors.New("nat: not supported on a shared socket")

// candidateConn is a shared socket as ice sees a server-reflexive
// candidate's: the non-QUIC datagrams (STUN), with read deadlines, which
// the STUN transaction that learns the candidate's address uses. A
// goroutine pumps Transport.ReadNonQUICPacket from the start, so that the
// STUN server's answer is not dropped for want of a reader.
type candidateConn struct {
	s       *sharedSocket
	onClose func()
	packets chan datagram

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline changes

	closeOnce sync.Once
}

type datagram struct {
	b    []byte
	addr net.Addr
}

// maxSTUNDatagram bounds what the pump copies out of a non-QUIC datagram:
// ice's buffers are smaller (receiveMTU, 8 KiB).
const maxSTUNDatagram = 8192

func newCandidateConn(s *sharedSocket, onClose func()) *candidateConn {
	c := &candidateConn{s: s, onClose: onClose, packets: make(chan datagram, 16), changed: make(chan struct{})}
	go c.pump()
	return c
}

func (c *candidateConn) pump() {
	buf := make([]byte, maxSTUNDatagram)
	for {
		n, addr, err := c.s.tr.ReadNonQUICPacket(c.s.ctx, buf)
		if err != nil {
			return // closed
		}
		select {
		case c.packets <- datagram{append([]byte(nil), buf[:n]...), addr}:
		default: // ice is not reading: drop, as a full socket buffer would
		}
	}
}

func (c *candidateConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var (
			expired <-chan time.Time
			timer   *time.Timer
		)
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		n, addr, err, again := c.wait(p, expired, changed)
		if timer != nil {
			timer.Stop()
		}
		if !again {
			return n, addr, err
		}
	}
}

// wait reads one datagram into p, unless the socket closes, the deadline
// expires, or it changes (again: look at the new one).
func (c *candidateConn) wait(p []byte, expired <-chan time.Time, changed <-chan struct{}) (n int, addr net.Addr, err error, again bool) {
	select {
	case dg := <-c.packets:
		return copy(p, dg.b), dg.addr, nil, false
	case <-c.s.ctx.Done():
		return 0, nil, io.EOF, false
	case <-expired:
		return 0, nil, os.ErrDeadlineExceeded, false
	case <-changed:
		return 0, nil, nil, true
	}
}

func (c *candidateConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	return muxConn{c.s}.WriteTo(p, addr)
}

func (c *candidateConn) Close() error {
	c.closeOnce.Do(c.onClose)
	return c.s.close()
}

func (c *candidateConn) LocalAddr() net.Addr  { return c.s.sock.LocalAddr() }
func (c *candidateConn) RemoteAddr() net.Addr { return nil }

func (c *candidateConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *candidateConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// SetWriteDeadline does nothing, as muxConn's: it would fail QUIC's writes.
func (c *candidateConn) SetWriteDeadline(time.Time) error { return nil }

// The socket buffers were sized when the socket was opened.
func (c *candidateConn) SetReadBuffer(int) error  { return nil }
func (c *candidateConn) SetWriteBuffer(int) error { return nil }

// The rest of transport.UDPConn: ice does not use them on these sockets.
func (c *candidateConn) Read([]byte) (int, error) { return 0, errSharedSocket }
func (c *candidateConn) ReadFromUDP([]byte) (int, *net.UDPAddr, error) {
	return 0, nil, errSharedSocket
}

func (c *candidateConn) ReadMsgUDP([]byte, []byte) (int, int, int, *net.UDPAddr, error) {
	return 0, 0, 0, nil, errSharedSocket
}
func (c *candidateConn) Write([]byte) (int, error) { return 0, errSharedSocket }
func (c *candidateConn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	return c.WriteTo(p, addr)
}

func (c *candidateConn) WriteMsgUDP([]byte, []byte, *net.UDPAddr) (int, int, error) {
	return 0, 0, errSharedSocket
}
