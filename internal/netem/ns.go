package netem

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// InNS runs f on an OS thread that has entered the network namespace ns
// (as ip netns knows it), so the sockets and devices f creates belong to
// ns; they stay there after f returns. The thread never leaves ns: it
// ends with f's goroutine, so no other goroutine ever runs in ns.
func InNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		// No UnlockOSThread: a locked goroutine's thread exits with it.
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netem: open namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("netem: enter namespace %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
