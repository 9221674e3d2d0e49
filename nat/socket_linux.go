package nat

import "syscall"

// forceBuffers sets the buffers with SO_RCVBUFFORCE/SO_SNDBUFFORCE, which
// ignore the sysctl limits but need CAP_NET_ADMIN, and returns the sizes the
// kernel then reports (Linux reports double the usable size).
func forceBuffers(c bufferConn, size int) (rcv, snd int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size)
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, size)
	})
	return readBuffers(c)
}

// readBuffers returns the socket's receive and send buffer sizes.
func readBuffers(c bufferConn) (rcv, snd int) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, 0
	}
	_ = raw.Control(func(fd uintptr) {
		rcv, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	return rcv, snd
}
