package nat

import (
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// socketBuffer is the kernel receive and send buffer requested for every UDP
// socket on the real network. With the default (~200 KiB) the kernel drops
// bursts of QUIC packets and throughput collapses.
const socketBuffer = 8 << 20

// bufferConn is what setting socket buffers needs; *net.UDPConn has it.
type bufferConn interface {
	SyscallConn() (syscall.RawConn, error)
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

// openSocket returns the network the agent uses and the one UDP socket that
// carries all of its ICE traffic (host and server-reflexive candidates).
func openSocket(cfg *Config, log *slog.Logger) (transport.Net, net.PacketConn, error) {
	addr := "0.0.0.0:0"
	if cfg.LoopbackOnly {
		addr = "127.0.0.1:0"
	}
	if cfg.Net != nil {
		n := unconnectedFix{Net: cfg.Net}
		pc, err := n.ListenPacket("udp4", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("nat: listen udp: %w", err)
		}
		return n, pc, nil
	}
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, nil, fmt.Errorf("nat: list network interfaces: %w", err)
	}
	n := bufferedNet{Net: std, log: log}
	pc, err := n.ListenPacket("udp4", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("nat: listen udp: %w", err)
	}
	return n, pc, nil
}

// bufferedNet is the real network, with large buffers on every UDP socket
// it opens (notably the TURN client's socket for relay candidates).
type bufferedNet struct {
	transport.Net
	log *slog.Logger
}

func (n bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if bc, ok := pc.(bufferConn); ok {
		growBuffers(bc, n.log)
	}
	return pc, nil
}

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	if bc, ok := c.(bufferConn); ok {
		growBuffers(bc, n.log)
	}
	return c, nil
}

// growBuffers sets both socket buffers to socketBuffer, beyond the
// net.core.{r,w}mem_max limits when the process may (Linux, CAP_NET_ADMIN).
func growBuffers(c bufferConn, log *slog.Logger) {
	rcv, snd := forceBuffers(c, socketBuffer)
	if rcv < socketBuffer {
		if err := c.SetReadBuffer(socketBuffer); err != nil {
			log.Debug("nat: set udp receive buffer", "err", err)
		}
		rcv, _ = readBuffers(c)
	}
	if snd < socketBuffer {
		if err := c.SetWriteBuffer(socketBuffer); err != nil {
			log.Debug("nat: set udp send buffer", "err", err)
		}
		_, snd = readBuffers(c)
	}
	log.Debug("nat: udp socket buffers", "receive", rcv, "send", snd, "wanted", socketBuffer)
}

// unconnectedFix wraps a network (in practice pion's vnet, at v5.0.1) whose
// unbound sockets report a typed nil *net.UDPAddr, not nil, from RemoteAddr:
// pion/turn's client then takes "<nil>" for the TURN server's address and
// drops everything the server relays, so no relay candidate ever works.
type unconnectedFix struct{ transport.Net }

func (n unconnectedFix) ListenPacket(network, address string) (net.PacketConn, error) {
	pc, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	if rc, ok := pc.(interface{ RemoteAddr() net.Addr }); ok {
		if a, ok := rc.RemoteAddr().(*net.UDPAddr); ok && a == nil {
			return unconnected{pc}, nil
		}
	}
	return pc, nil
}

// unconnected is a PacketConn whose RemoteAddr is a true nil.
type unconnected struct{ net.PacketConn }

func (unconnected) RemoteAddr() net.Addr { return nil }
