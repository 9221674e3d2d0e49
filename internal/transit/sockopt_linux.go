//go:build linux

package transit

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// CongestionControl is the TCP congestion control ferry asks the kernel
// for on its own connections, direct and to transit relays: BBR paces by
// the measured bandwidth and round trip instead of halving at each loss,
// so one connection keeps most of a long lossy link (on an emulated
// 100 Mbit/s, 50 ms, 0.5% loss link: 8 to 10 MB/s, where CUBIC, the usual
// default, is bounded near 0.5 MB/s). Where the kernel does not offer it
// (no tcp_bbr module, or not in net.ipv4.tcp_allowed_congestion_control
// for an unprivileged process) the connection keeps the kernel's default.
const CongestionControl = "bbr"

// control sets CongestionControl on a socket before it connects or
// listens (accepted connections inherit a listener's).
func control(_, _ string, c syscall.RawConn) error { return setCongestion(c, CongestionControl) }

// setCongestion asks for congestion control cc on c's socket; a kernel
// that refuses leaves its default.
func setCongestion(c syscall.RawConn, cc string) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
	})
}

// CongestionControl is the congestion control the listener's connections
// get: CongestionControl where the kernel granted it, else its default.
func (l *Listener) CongestionControl() string {
	if sc, ok := l.ln.(syscall.Conn); ok {
		return congestionOf(sc)
	}
	return ""
}

// congestionOf is a TCP socket's congestion control, "" if it cannot be read.
func congestionOf(s syscall.Conn) string {
	raw, err := s.SyscallConn()
	if err != nil {
		return ""
	}
	var cc string
	raw.Control(func(fd uintptr) { cc, _ = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION) })
	return cc
}
