package netem

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// OpenTUN creates the TUN device name (no packet information header, no
// offloads, so each Read is one IP packet of at most the MTU) in the
// current thread's network namespace and returns it as a non-blocking
// *os.File, whose Read and Write move one packet and which honours
// SetReadDeadline. Call it inside InNS to create it in a namespace. The
// device goes away when the file is closed.
func OpenTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("netem: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netem: TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netem: create TUN %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}
