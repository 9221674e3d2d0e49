// Package netns builds small fake internets out of Linux network
// namespaces, veth pairs, a bridge and iptables NAT, and runs programs
// inside them, so tests can put two real processes behind real kernel NATs.
//
// A Lab owns every namespace it creates; their names carry a random suffix
// so concurrent runs never collide, and t.Cleanup deletes them (which also
// removes their veths), after killing every process started in them. The
// namespaces have no link to the machine's own network: traffic can only
// go between them.
//
// The layout is one "internet" namespace holding a bridge, with the public
// side in 198.18.0.0/24 (the benchmarking range), and behind it either
// hosts on the bridge or routers with a LAN each (10.77.N.0/24) and a host
// on it. Routers know only their two connected subnets, so one LAN can
// reach another only through both NATs.
package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PublicGateway is the internet namespace's address on its bridge
// (198.18.0.0/24), where a relay can run.
const PublicGateway = "198.18.0.1"

// NAT is how a router translates its LAN.
type NAT int

const (
	// Cone is a port-restricted cone NAT: MASQUERADE keeps the source port
	// when it can, and only the address and port a mapping was made for may
	// answer through it.
	Cone NAT = iota
	// Symmetric gives every new flow a random public port
	// (MASQUERADE --random-fully), so a STUN server learns a port the
	// peer cannot use.
	Symmetric
)

// Check skips t unless the machine can run a Lab: root, the ip, iptables,
// conntrack, tc and bash commands, and a kernel that creates network namespaces
// with NAT. With FERRY_REQUIRE_PEERS=1 (as in CI) missing or broken tools
// fail t instead; a kernel that refuses namespaces, or a non-root user,
// still only skips it.
func Check(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces need Linux")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	require := os.Getenv("FERRY_REQUIRE_PEERS") == "1"
	missing := func(format string, args ...any) {
		t.Helper()
		if require {
			t.Fatalf(format+" and FERRY_REQUIRE_PEERS=1 (apt-get install iproute2 iptables conntrack)", args...)
		}
		t.Skipf(format, args...)
	}
	for _, tool := range []string{"ip", "iptables", "conntrack", "tc", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("%s is not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe := "ferry-probe-" + randomSuffix()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("the kernel refuses network namespaces: ip netns add: %v: %s", err, bytes.TrimSpace(out))
	}
	defer exec.Command("ip", "netns", "del", probe).Run()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", probe,
		"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "lo", "-j", "MASQUERADE", "--random-fully").CombinedOutput()
	if err != nil {
		missing("iptables NAT does not work in a namespace: %v: %s", err, bytes.TrimSpace(out))
	}
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Lab is one test's set of namespaces.
type Lab struct {
	t      testing.TB
	suffix string
}

// New returns an empty Lab whose namespaces t.Cleanup removes.
func New(t testing.TB) *Lab {
	return &Lab{t: t, suffix: randomSuffix()}
}

// NS is one network namespace.
type NS struct {
	lab  *Lab
	Name string // as ip netns knows it
}

// NS creates a namespace called role (plus the Lab's suffix) with its
// loopback up and IPv6 off, so that only the IPv4 addresses a test gives
// it exist.
func (l *Lab) NS(role string) *NS {
	l.t.Helper()
	n := &NS{lab: l, Name: "ferry-" + l.suffix + "-" + role}
	l.run("ip", "netns", "add", n.Name)
	l.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
		n.Exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	n.IP("link", "set", "lo", "up")
	return n
}

// run runs a set-up command, failing the test with its output on error.
func (l *Lab) run(argv ...string) string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// IP runs "ip -n NS ARGS..." and fails the test if it fails.
func (n *NS) IP(args ...string) string {
	n.lab.t.Helper()
	return n.lab.run(append([]string{"ip", "-n", n.Name}, args...)...)
}

// Exec runs a command inside the namespace and fails the test if it fails.
func (n *NS) Exec(argv ...string) string {
	n.lab.t.Helper()
	return n.lab.run(append([]string{"ip", "netns", "exec", n.Name}, argv...)...)
}

// Try runs a command inside the namespace and returns its error and output.
func (n *NS) Try(ctx context.Context, argv ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...).CombinedOutput()
	return string(out), err
}

// Internet is the namespace with the bridge every public address is on.
type Internet struct {
	*NS
	ports int
}

// Internet creates the internet namespace, its bridge "br0" holding
// PublicGateway.
func (l *Lab) Internet() *Internet {
	l.t.Helper()
	in := &Internet{NS: l.NS("inet")}
	in.IP("link", "add", "br0", "type", "bridge")
	in.IP("link", "set", "br0", "up")
	in.IP("addr", "add", PublicGateway+"/24", "dev", "br0")
	return in
}

// attach plugs a new veth "ifname" of ns into the bridge and gives it the
// public address ip.
func (in *Internet) attach(ns *NS, ifname, ip string) {
	in.lab.t.Helper()
	in.ports++
	port := fmt.Sprintf("port%d", in.ports)
	ns.IP("link", "add", ifname, "type", "veth", "peer", "name", port, "netns", in.Name)
	in.IP("link", "set", port, "master", "br0", "up")
	ns.IP("addr", "add", ip+"/24", "dev", ifname)
	ns.IP("link", "set", ifname, "up")
}

// Host is a namespace a program runs in, and, for a host behind a NAT, its
// router's.
type Host struct {
	*NS
	Addr   string // the host's own address
	Router *NS    // nil for a host on the internet itself
	WAN    string // the router's public address (Addr for a public host)
}

// PublicHost creates a host directly on the internet's bridge with the
// public address ip and no NAT.
func (in *Internet) PublicHost(role, ip string) *Host {
	in.lab.t.Helper()
	h := &Host{NS: in.lab.NS(role), Addr: ip, WAN: ip}
	in.attach(h.NS, "eth0", ip)
	return h
}

// NATHost creates router namespace "r"+role with public address wan and
// LAN 10.77.lan.0/24, and behind it namespace "h"+role at 10.77.lan.2,
// whose only route out is the router. The router masquerades the LAN as
// kind says and, as a home router does, drops whatever arrives on its
// public side that is not part of a flow it already saw (in FORWARD and
// INPUT). Without that drop the peer's first punch packet, arriving before
// our own went out, would create a conntrack entry that takes the port our
// mapping needs.
func (in *Internet) NATHost(role string, lan int, wan string, kind NAT) *Host {
	in.lab.t.Helper()
	r := in.lab.NS("r" + role)
	h := &Host{NS: in.lab.NS("h" + role), Addr: fmt.Sprintf("10.77.%d.2", lan), Router: r, WAN: wan}
	gw := fmt.Sprintf("10.77.%d.1", lan)
	in.attach(r, "wan", wan)
	r.IP("link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", h.Name)
	r.IP("addr", "add", gw+"/24", "dev", "lan")
	r.IP("link", "set", "lan", "up")
	h.IP("addr", "add", h.Addr+"/24", "dev", "eth0")
	h.IP("link", "set", "eth0", "up")
	h.IP("route", "add", "default", "via", gw)
	r.Exec("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	masq := []string{"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if kind == Symmetric {
		masq = append(masq, "--random-fully")
	}
	r.Exec(masq...)
	for _, chain := range []string{"FORWARD", "INPUT"} {
		r.Exec("iptables", "-A", chain, "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		r.Exec("iptables", "-A", chain, "-i", "wan", "-j", "DROP")
	}
	return h
}

// LANPair creates namespaces roleA and roleB joined by one veth pair
// (eth0 on each): a LAN of two hosts, 10.78.0.1 and 10.78.0.2 (/24), with
// no route anywhere else, so no relay, no DNS server and no internet.
func (l *Lab) LANPair(roleA, roleB string) (a, b *Host) {
	l.t.Helper()
	a = &Host{NS: l.NS(roleA), Addr: "10.78.0.1"}
	b = &Host{NS: l.NS(roleB), Addr: "10.78.0.2"}
	a.WAN, b.WAN = a.Addr, b.Addr
	a.IP("link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b.Name)
	for _, h := range []*Host{a, b} {
		h.IP("addr", "add", h.Addr+"/24", "dev", "eth0")
		h.IP("link", "set", "eth0", "up")
	}
	return a, b
}

// Unreachable fails the test if the router (or, for a public host, the
// host) has a route to ip: hosts must meet only through the NATs, or ICE
// would find host candidates that work and the test would not test NAT.
func (h *Host) Unreachable(ip string) {
	h.lab.t.Helper()
	ns := h.Router
	if ns == nil {
		ns = h.NS
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := ns.Try(ctx, "ip", "route", "get", ip); err == nil {
		h.lab.t.Fatalf("%s has a route to %s: %s", ns.Name, ip, out)
	}
}

// ChangeMapping makes the router forget every mapping and hand out new
// UDP ports (40000-40999) from now on, as a router that restarts or
// expires its mappings would. With tcp, new TCP mappings move too
// (41000-41999), so TCP connections through the router break; without,
// TCP keeps the port-preserving rule, and a TCP connection that sends
// again is picked up under its old mapping. The rules change before the
// flush, so no packet in between can recreate an entry with an old port.
func (h *Host) ChangeMapping(tcp bool) {
	h.lab.t.Helper()
	h.Router.Exec("iptables", "-t", "nat", "-R", "POSTROUTING", "1", "-o", "wan", "-p", "udp", "-j", "MASQUERADE", "--to-ports", "40000-40999")
	if tcp {
		h.Router.Exec("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-p", "tcp", "-j", "MASQUERADE", "--to-ports", "41000-41999")
	}
	h.Router.Exec("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE")
	h.Router.Exec("conntrack", "-F")
}

// WaitListening polls a TCP connection to host:port from inside the
// namespace (bash's /dev/tcp, one second per try) until one succeeds or
// ctx ends.
func (n *NS) WaitListening(ctx context.Context, host, port string) error {
	for {
		tctx, cancel := context.WithTimeout(ctx, time.Second)
		out, err := n.Try(tctx, "bash", "-c", `exec 3<>"/dev/tcp/$0/$1"`, host, port)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listens on %s:%s in %s: %v: %s", host, port, n.Name, err, strings.TrimSpace(out))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Proc is a program running in a namespace, with its output captured.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	stop    context.CancelFunc
	stdout  outBuf
	stderr  outBuf
	done    chan struct{}
	err     error // from Wait, once done is closed
	Started time.Time
	Ended   time.Time // once done is closed
}

// Start runs argv inside the namespace in its own process group, with
// env as its whole environment and no stdin. t.Cleanup kills the group.
func (n *NS) Start(name string, env []string, argv ...string) *Proc {
	t := n.lab.t
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	p := &Proc{Name: name, stop: stop, done: make(chan struct{})}
	p.stdout.changed, p.stderr.changed = make(chan struct{}), make(chan struct{})
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		stop()
		t.Fatalf("start %s: %v", name, err)
	}
	p.Started = time.Now()
	go func() {
		p.err = cmd.Wait()
		p.Ended = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s (pid %d) did not die", name, cmd.Process.Pid)
		}
	})
	return p
}

// Kill kills the process group, if it still runs.
func (p *Proc) Kill() { p.stop() }

// Stop kills the process group and waits (at most 10 s) until the
// process is reaped, so that String reports how it ended.
func (p *Proc) Stop() {
	p.stop()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit, or for ctx to end.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s still running after %v", p.Name, time.Since(p.Started).Round(time.Millisecond))
	}
}

// ExitCode is the exit status once the process has exited (-1 if a signal
// ended it, or it has not exited yet).
func (p *Proc) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Runtime is how long the process ran, or has run so far.
func (p *Proc) Runtime() time.Duration {
	select {
	case <-p.done:
		return p.Ended.Sub(p.Started)
	default:
		return time.Since(p.Started)
	}
}

// Stdout is what the process printed on stdout so far.
func (p *Proc) Stdout() string { s, _ := p.stdout.snapshot(); return s }

// Stderr is what the process printed on stderr so far.
func (p *Proc) Stderr() string { s, _ := p.stderr.snapshot(); return s }

// WaitStderr waits until a line of stderr starts with prefix and returns
// it, or fails when the process exits first or ctx ends.
func (p *Proc) WaitStderr(ctx context.Context, prefix string) (string, error) {
	for {
		s, changed := p.stderr.snapshot()
		if line, ok := LineWithPrefix(s, prefix); ok {
			return line, nil
		}
		select {
		case <-changed:
		case <-p.done:
			if line, ok := LineWithPrefix(p.Stderr(), prefix); ok {
				return line, nil
			}
			return "", fmt.Errorf("%s exited (%v) before printing %q", p.Name, p.err, prefix)
		case <-ctx.Done():
			return "", fmt.Errorf("%s did not print %q within %v", p.Name, prefix, time.Since(p.Started).Round(time.Millisecond))
		}
	}
}

// LineWithPrefix returns the first complete line of s starting with prefix.
func LineWithPrefix(s, prefix string) (string, bool) {
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, prefix) && strings.HasSuffix(line, "\n") {
			return strings.TrimSuffix(line, "\n"), true
		}
	}
	return "", false
}

// String describes the process and all its output, for failure messages.
func (p *Proc) String() string {
	state := "still running"
	select {
	case <-p.done:
		state = fmt.Sprintf("exit %d (%v) after %v", p.ExitCode(), p.err, p.Runtime().Round(time.Millisecond))
	default:
	}
	return fmt.Sprintf("--- %s: %s\n--- %s stdout:\n%s--- %s stderr:\n%s--- end of %s\n",
		p.Name, state, p.Name, p.Stdout(), p.Name, p.Stderr(), p.Name)
}

// outBuf collects output and tells waiters when it grows.
type outBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b.Len() < 4<<20 { // keep the first 4 MiB
		o.b.Write(p)
	}
	close(o.changed)
	o.changed = make(chan struct{})
	return len(p), nil
}

// snapshot returns the output so far and a channel closed at the next write.
func (o *outBuf) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String(), o.changed
}
