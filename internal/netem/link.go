package netem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// The addresses Start gives the two ends of a link.
const (
	AddrA = "10.79.1.2"
	AddrB = "10.79.2.2"
)

// Link is an emulated path between two namespaces.
type Link struct {
	RTT  time.Duration // round-trip time added (each way holds packets RTT/2)
	Rate int64         // bits per second each way, by tbf; 0 means no limit
	Loss float64       // probability that a packet is dropped, each way, 0 to 1
}

// Emulated is a running Link.
type Emulated struct {
	A, B string     // the addresses of the two ends (AddrA, AddrB)
	Line *DelayLine // the delay line, for its Stats
	tun  *os.File
	stop context.CancelFunc
	done chan error
	once sync.Once
	err  error // what stopped the line, once Close returned
}

// Start joins the existing, otherwise empty network namespaces a and b
// through the namespace m (all three as ip netns knows them): a veth from
// a (eth0, AddrA) to m and one from m to b (eth0, AddrB), each end's
// default route through m. In m, every packet arriving from a or b is
// routed into the TUN device emu0, where a DelayLine holds it for RTT/2
// and drops it with probability Loss, and writes it back into m, which
// forwards it to its destination through a tbf of Rate on the veth
// towards it. Close stops the delay line, after which no packet passes;
// the caller deletes the namespaces (which removes the veths).
func (l Link) Start(ctx context.Context, a, m, b string) (*Emulated, error) {
	if l.RTT < 0 || l.Rate < 0 {
		return nil, fmt.Errorf("netem: RTT %v and rate %d must not be negative", l.RTT, l.Rate)
	}
	if l.Loss < 0 || l.Loss > 1 {
		return nil, fmt.Errorf("netem: loss %v is not between 0 and 1", l.Loss)
	}
	line := &DelayLine{Delay: l.RTT / 2, Loss: l.Loss}
	var steps [][]string
	add := func(argv ...string) { steps = append(steps, argv) }
	for _, end := range []struct{ ns, dev, addr, gw string }{{a, "veth-a", AddrA, "10.79.1.1"}, {b, "veth-b", AddrB, "10.79.2.1"}} {
		add("ip", "-n", end.ns, "link", "add", "eth0", "type", "veth", "peer", "name", end.dev, "netns", m)
		add("ip", "-n", end.ns, "addr", "add", end.addr+"/24", "dev", "eth0")
		add("ip", "-n", end.ns, "link", "set", "dev", "eth0", "up")
		add("ip", "-n", end.ns, "route", "add", "default", "via", end.gw)
		add("ip", "-n", m, "addr", "add", end.gw+"/24", "dev", end.dev)
		add("ip", "-n", m, "link", "set", "dev", end.dev, "up")
		add("ip", "-n", m, "rule", "add", "iif", end.dev, "table", "100")
		if l.Rate > 0 {
			add(append([]string{"ip", "netns", "exec", m, "tc", "qdisc", "add", "dev", end.dev, "root"}, l.tbf()...)...)
		}
	}
	if err := run(ctx, steps); err != nil {
		return nil, err
	}
	var tun *os.File
	if err := InNS(m, func() (err error) { tun, err = OpenTUN("emu0"); return err }); err != nil {
		return nil, err
	}
	// Packets written into emu0 arrive with a source the main table routes
	// elsewhere: reverse-path filtering must be off for them.
	err := run(ctx, [][]string{
		{"ip", "-n", m, "link", "set", "dev", "emu0", "mtu", "1500", "up"},
		{"ip", "-n", m, "route", "add", "default", "dev", "emu0", "table", "100"},
		{"ip", "netns", "exec", m, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1",
			"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.emu0.rp_filter=0",
			"net.ipv4.conf.all.send_redirects=0"},
	})
	if err != nil {
		tun.Close()
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e := &Emulated{A: AddrA, B: AddrB, Line: line, tun: tun, stop: stop, done: make(chan error, 1)}
	go func() { e.done <- line.Run(rctx, tun, tun) }()
	return e, nil
}

// tbf is the tc arguments that cap a veth at l.Rate: a bucket of 4 ms of
// the rate (at least 3,000 bytes) and a queue of one bandwidth-delay
// product (at least 64 KiB), beyond which the router drops, as a real
// bottleneck does.
func (l Link) tbf() []string {
	bytesPerSec := l.Rate / 8
	burst := max(bytesPerSec/250, 3000)
	limit := max(bytesPerSec*int64(l.RTT)/int64(time.Second), 64<<10) + burst
	return []string{"tbf", "rate", fmt.Sprintf("%dbit", l.Rate), "burst", fmt.Sprint(burst), "limit", fmt.Sprint(limit)}
}

// Close stops the delay line and removes emu0, and returns what stopped
// the line if it was not Close. Calling it again returns the same.
func (e *Emulated) Close() error {
	e.once.Do(func() {
		e.stop()
		err := <-e.done
		e.tun.Close()
		if !errors.Is(err, context.Canceled) {
			e.err = err
		}
	})
	return e.err
}

// run runs set-up commands in order, stopping at the first that fails.
func run(ctx context.Context, steps [][]string) error {
	for _, argv := range steps {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, argv[0], argv[1:]...).CombinedOutput()
		cancel()
		if err != nil {
			return fmt.Errorf("netem: %s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}
