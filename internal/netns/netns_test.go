package netns_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// code is the wormhole code every transfer uses; each test has its own relay.
const code = "7-guitarist-revenge"

// TestNAT sends files between the real ferry binary in two namespaces
// behind real kernel NATs, through a real "ferry relay" on the fake
// internet, and checks which path ferry took. The subtests run one after
// the other: they time ICE, TURN and a shaped link, and two at once on two
// cores would make them slow and flaky.
func TestNAT(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	t.Run("ConeSTUN", func(t *testing.T) { testConeSTUN(t, bin) })
	t.Run("SymmetricTURN", func(t *testing.T) { testSymmetricTURN(t, bin) })
	t.Run("RelayOnly", func(t *testing.T) { testRelayOnly(t, bin) })
	t.Run("SymmetricTransit", func(t *testing.T) { testSymmetricTransit(t, bin) })
	t.Run("SymmetricNoRelay", func(t *testing.T) { testSymmetricNoRelay(t, bin) })
	t.Run("SymmetricICEOnly", func(t *testing.T) { testSymmetricICEOnly(t, bin) })
	t.Run("PublicSender", func(t *testing.T) { testPublicSender(t, bin) })
	t.Run("MappingChangeUDP", func(t *testing.T) { testMappingChange(t, bin, false) })
	t.Run("MappingChangeAll", func(t *testing.T) { testMappingChange(t, bin, true) })
}

// transferOver sends a file between hosts behind a and b with the given
// servers and checks that the receiver reports a path that ok accepts
// (want describes it).
func transferOver(t *testing.T, bin string, a, b placement, srv servers, want string, ok func(path string) bool) {
	t.Helper()
	w := newWorld(t, bin, a, b, srv)
	x := w.start(t, 1<<20)
	x.wait(t, 90*time.Second)
	x.requireSuccess(t)
	if p := x.path(t); !ok(p) {
		t.Fatalf("path %q, want %s\n%s", p, want, x)
	}
}

func is(want string) func(string) bool { return func(p string) bool { return p == want } }

// 1. Two port-restricted cone NATs and a STUN server: the hole punch works.
func testConeSTUN(t *testing.T, bin string) {
	transferOver(t, bin, cone, cone, servers{}, "a server-reflexive ICE pair (ice srflx…)", func(p string) bool {
		return strings.HasPrefix(p, "ice ") && strings.Contains(p, "srflx") && !strings.Contains(p, "relay")
	})
}

// 2b. The same with --transport relay: relayed candidates only on both
// sides, so each side's peer is the other's relayed address on the same
// TURN server (ferry relay once refused those permissions, 403, and no
// pair connected).
func testRelayOnly(t *testing.T, bin string) {
	transferOver(t, bin, symmetric, symmetric, servers{turn: true, transport: "relay"}, `"ice relay (turn)"`, is("ice relay (turn)"))
}

// 2. Two symmetric NATs and a TURN server: ICE goes through TURN.
func testSymmetricTURN(t *testing.T, bin string) {
	transferOver(t, bin, symmetric, symmetric, servers{turn: true}, `"ice relay (turn)"`, is("ice relay (turn)"))
}

// 3. Two symmetric NATs, no TURN, a transit relay: the transit relay.
func testSymmetricTransit(t *testing.T, bin string) {
	transferOver(t, bin, symmetric, symmetric, servers{transit: true}, `"transit relay"`, is("transit relay"))
}

// 4. Two symmetric NATs and nothing but STUN: no path exists, and both
// sides must say so, and what would help, within 45 s (the target is 30).
func testSymmetricNoRelay(t *testing.T, bin string) {
	const limit = 45 * time.Second
	w := newWorld(t, bin, symmetric, symmetric, servers{})
	x := w.start(t, 1<<20)
	ctx, cancel := context.WithDeadline(context.Background(), x.receiver.Started.Add(limit))
	defer cancel()
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if err := p.Wait(ctx); err != nil {
			x.stop()
			t.Fatalf("no path exists, but %s: both sides must give up within %v of the receiver starting\n%s", err, limit, x)
		}
	}
	t.Logf("gave up after: sender %v, receiver %v (since the receiver started: sender %v)",
		x.sender.Runtime().Round(time.Millisecond), x.receiver.Runtime().Round(time.Millisecond),
		x.sender.Ended.Sub(x.receiver.Started).Round(time.Millisecond))
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if p.ExitCode() == 0 {
			t.Errorf("%s exited 0 though no path exists", p.Name)
		}
		stderr := p.Stderr()
		errLine, ok := netns.LineWithPrefix(stderr, "ferry: error:")
		if !ok {
			t.Errorf("%s printed no \"ferry: error:\" line", p.Name)
		} else if l := strings.ToLower(errLine); !strings.Contains(l, "ice") && !strings.Contains(l, "tcp") {
			t.Errorf("%s's error does not name what it tried (ICE, TCP): %q", p.Name, errLine)
		}
		hint, ok := netns.LineWithPrefix(stderr, "ferry: hint:")
		if !ok {
			t.Errorf("%s printed no \"ferry: hint:\" line", p.Name)
		} else if !strings.Contains(hint, "TURN") && !strings.Contains(strings.ToLower(hint), "transit") {
			t.Errorf("%s's hint suggests neither TURN nor a transit relay: %q", p.Name, hint)
		}
		t.Logf("%s:\n\t%s\n\t%s", p.Name, errLine, hint)
	}
	x.requireNothingLanded(t)
	if t.Failed() {
		t.Logf("\n%s", x)
	}
}

// 4b. Two symmetric NATs and a TURN server, but --transport ice, which
// means host and server-reflexive pairs only (the README): TURN is not
// used, so no path exists and both sides fail (within their 10 s bound).
func testSymmetricICEOnly(t *testing.T, bin string) {
	w := newWorld(t, bin, symmetric, symmetric, servers{turn: true, transport: "ice"})
	x := w.start(t, 1<<20)
	x.wait(t, 40*time.Second)
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if p.ExitCode() == 0 {
			t.Errorf("%s exited 0: --transport ice went through TURN\n%s", p.Name, x)
		}
	}
	if l, ok := netns.LineWithPrefix(x.receiver.Stderr(), "ferry: error:"); !ok || !strings.Contains(strings.ToLower(l), "ice") {
		t.Errorf("receiver's error does not say ICE failed: %q", l)
	}
	x.requireNothingLanded(t)
}

// 5. The sender has a public address, the receiver is behind a cone NAT:
// the receiver connects to the sender's listener, and direct TCP wins.
func testPublicSender(t *testing.T, bin string) {
	transferOver(t, bin, public, cone, servers{}, `"direct tcp" (striped or not: ×4 where the kernel has no BBR)`, func(p string) bool {
		return p == "direct tcp" || strings.HasPrefix(p, "direct tcp ×")
	})
}

// 6. The sender's router forgets its mappings mid-transfer and hands out
// new UDP ports, and with tcp new TCP ports too, which also breaks the
// sender's connection to the mailbox. Without reconnection that must be a
// clean failure within 60 s on both sides, with no final name in the
// output folder, only what arrived kept for a later run to resume (its
// staging folder and record); a transfer that survives is also fine, if
// the file is whole.
func testMappingChange(t *testing.T, bin string, tcp bool) {
	const size, limit = 40 << 20, 60 * time.Second
	w := newWorld(t, bin, cone, cone, servers{})
	// The clean failure within 60 s this case checks is the one without
	// reconnecting (--reconnect-timeout 0): a reconnect may look for a new
	// path for longer than that. TestReconnectNAT/ICERebind checks that the
	// same mapping change, with reconnecting on, goes on over a new ICE
	// pair (and TestReconnectAfterDrop the same over direct TCP).
	w.env = append(w.env, "FERRY_RECONNECT_TIMEOUT=0")
	// 40 Mbit/s out of the sender's router: 40 MB take 8 s or more.
	w.snd.Router.Exec("tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	x.mustStage(t, size/4, 60*time.Second)
	flushed := time.Now()
	staged, _ := stagedBytes(x.out)
	w.snd.ChangeMapping(tcp)
	t.Logf("mapping changed %v after the receiver started, %d of %d bytes staged",
		flushed.Sub(x.receiver.Started).Round(time.Millisecond), staged, size)
	dctx, dcancel := context.WithDeadline(context.Background(), flushed.Add(limit))
	defer dcancel()
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		if err := p.Wait(dctx); err != nil {
			x.stop()
			t.Fatalf("after the mapping changed, %s: both sides must finish within %v\n%s", err, limit, x)
		}
	}
	t.Logf("after the mapping changed: sender exited %d after %v, receiver exited %d after %v",
		x.sender.ExitCode(), x.sender.Ended.Sub(flushed).Round(time.Millisecond),
		x.receiver.ExitCode(), x.receiver.Ended.Sub(flushed).Round(time.Millisecond))
	switch {
	case x.sender.ExitCode() == 0 && x.receiver.ExitCode() == 0:
		x.requireSuccess(t)
		t.Logf("the transfer survived the new mapping (over %s): reconnection works", x.path(t))
	case x.sender.ExitCode() != 0 && x.receiver.ExitCode() != 0:
		for _, p := range []*netns.Proc{x.sender, x.receiver} {
			if line, ok := netns.LineWithPrefix(p.Stderr(), "ferry: error:"); !ok {
				t.Errorf("%s failed without a \"ferry: error:\" line", p.Name)
			} else {
				t.Logf("%s: %s", p.Name, line)
			}
		}
		x.requireOnlyResumable(t)
		if t.Failed() {
			t.Logf("\n%s", x)
		}
	default:
		t.Fatalf("one side succeeded and the other failed\n%s", x)
	}
}

// placement is where a host sits.
type placement int

const (
	public placement = iota
	cone
	symmetric
)

// servers says what the relay offers besides the mailbox and STUN.
type servers struct {
	turn, transit bool
	// turnApart runs the TURN server (with turn) in a relay process of
	// its own (world.turn), which a test can kill without the mailbox.
	turnApart bool
	transport string // --transport for both sides, when set
	data      bool   // the relay keeps its mailbox in a data folder (--data), across restarts
	verbose   bool   // both sides log (-v)
}

// world is a fake internet with a relay, a sending and a receiving host.
type world struct {
	bin      string
	dir      string
	env      []string
	srv      servers
	in       *netns.Internet
	snd, rcv *netns.Host
	relay    *netns.Proc // the running relay
	turn     *netns.Proc // the running TURN relay, with servers.turnApart
}

func newWorld(t *testing.T, bin string, sender, receiver placement, srv servers) *world {
	t.Helper()
	lab := netns.New(t)
	w := &world{bin: bin, dir: t.TempDir(), srv: srv, in: lab.Internet()}
	w.env = childEnv(filepath.Join(w.dir, "home"))
	w.snd = w.host("A", 1, sender)
	w.rcv = w.host("B", 2, receiver)
	// Each side may reach the other's private address only through the NATs.
	if w.rcv.Router != nil {
		w.snd.Unreachable(w.rcv.Addr)
	}
	if w.snd.Router != nil {
		w.rcv.Unreachable(w.snd.Addr)
	}
	w.startRelay(t)
	if srv.turn && srv.turnApart {
		w.startTURN(t)
	}
	return w
}

func (w *world) host(role string, n int, p placement) *netns.Host {
	wan := fmt.Sprintf("198.18.0.%d", 10+n)
	switch p {
	case public:
		return w.in.PublicHost("h"+role, wan)
	case symmetric:
		return w.in.NATHost(role, n, wan, netns.Symmetric)
	}
	return w.in.NATHost(role, n, wan, netns.Cone)
}

// childEnv is this process's environment without FERRY_ variables (so no
// server defaults leak in), with its own home and keyring.
func childEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FERRY_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "FERRY_HOME="+home)
}

func (w *world) startRelay(t *testing.T) {
	t.Helper()
	pub := netns.PublicGateway
	args := []string{w.bin, "relay", "--listen", pub + ":4000", "--stun-listen", pub + ":3478"}
	if w.srv.turn && !w.srv.turnApart {
		args = append(args, turnArgs()...)
	}
	if w.srv.transit {
		args = append(args, "--transit-listen", pub+":4001")
	}
	if w.srv.data {
		args = append(args, "--data", filepath.Join(w.dir, "relay-data"))
	}
	relay := w.in.Start("relay", w.env, args...)
	w.relay = relay
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The relay binds STUN and TURN before it prints them, and the
	// transit relay last.
	ready := []string{"ferry: STUN on"}
	if w.srv.turn && !w.srv.turnApart {
		ready = append(ready, "ferry: TURN on")
	}
	for _, line := range ready {
		if _, err := relay.WaitStderr(ctx, line); err != nil {
			t.Fatalf("relay: %v\n%s", err, relay)
		}
	}
	listen := []string{"4000"}
	if w.srv.transit {
		listen = append(listen, "4001")
	}
	for _, port := range listen {
		if err := w.in.WaitListening(ctx, pub, port); err != nil {
			t.Fatalf("relay: %v\n%s", err, relay)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("\n%s", relay)
		}
	})
}

// turnArgs are a relay's flags for its TURN server on PublicGateway:3479.
func turnArgs() []string {
	pub := netns.PublicGateway
	return []string{"--turn-listen", pub + ":3479", "--turn-ip", pub, "--turn-user", "u", "--turn-pass", "p"}
}

// startTURN starts (or, once killed, starts again) the TURN relay of
// servers.turnApart: a second relay process whose mailbox (on port 4100)
// nobody uses, so that killing it kills every TURN allocation and nothing
// else.
func (w *world) startTURN(t *testing.T) {
	t.Helper()
	args := append([]string{w.bin, "relay", "--listen", netns.PublicGateway + ":4100"}, turnArgs()...)
	p := w.in.Start("turn", w.env, args...)
	w.turn = p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.WaitStderr(ctx, "ferry: TURN on"); err != nil {
		t.Fatalf("TURN relay: %v\n%s", err, p)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("\n%s", p)
		}
	})
}

// flags name every server explicitly, so nothing defaults to a public one.
func (w *world) flags() []string {
	pub := netns.PublicGateway
	f := []string{"--relay", "ws://" + pub + ":4000/v1", "--stun", "stun:" + pub + ":3478"}
	if w.srv.turn {
		f = append(f, "--turn", "turn:"+pub+":3479", "--turn-user", "u", "--turn-pass", "p")
	}
	if w.srv.transport != "" {
		f = append(f, "--transport", w.srv.transport, "--connect-timeout", "10s")
	}
	if w.srv.verbose {
		f = append(f, "-v")
	}
	if w.srv.transit {
		return append(f, "--transit", "tcp:"+pub+":4001")
	}
	return append(f, "--transit", "none")
}

// exchange is one transfer in progress.
type exchange struct {
	sender, receiver *netns.Proc
	name, out        string
	sum              [32]byte
}

// start writes a file of size random bytes, starts the sender, and starts
// the receiver once the sender has printed its code.
func (w *world) start(t *testing.T, size int) *exchange {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), byte(size >> 16)})
	rng.Read(data)
	x := &exchange{name: "payload.bin", out: filepath.Join(w.dir, "out"), sum: sha256.Sum256(data)}
	src := filepath.Join(w.dir, "src", x.name)
	for _, err := range []error{os.MkdirAll(filepath.Dir(src), 0o755), os.WriteFile(src, data, 0o644), os.MkdirAll(x.out, 0o755)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The code travels in FERRY_CODE, as the README recommends: in argv
	// it brings a warning (and its hint) on a computer others log in to.
	env := append(append([]string{}, w.env...), "FERRY_CODE="+code)
	args := append(append([]string{w.bin, "send"}, w.flags()...), src)
	x.sender = w.snd.Start("sender", env, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := x.sender.WaitStderr(ctx, "Code:"); err != nil {
		t.Fatalf("%v\n%s", err, x.sender)
	}
	args = append(append([]string{w.bin, "receive"}, w.flags()...), "--yes", "--out", x.out)
	x.receiver = w.rcv.Start("receiver", env, args...)
	return x
}

// wait waits for both sides to exit, killing them and failing after limit.
func (x *exchange) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, p := range []*netns.Proc{x.receiver, x.sender} {
		if err := p.Wait(ctx); err != nil {
			x.stop()
			t.Fatalf("%v\n%s", err, x)
		}
	}
	t.Logf("sender exited %d after %v, receiver exited %d after %v", x.sender.ExitCode(), x.sender.Runtime().Round(time.Millisecond),
		x.receiver.ExitCode(), x.receiver.Runtime().Round(time.Millisecond))
}

// stop kills both sides and waits for them to go.
func (x *exchange) stop() {
	x.sender.Kill()
	x.receiver.Kill()
	x.sender.Stop()
	x.receiver.Stop()
}

func (x *exchange) String() string { return x.sender.String() + x.receiver.String() }

// requireSuccess checks both sides exited 0 and the file arrived whole
// under its name, with nothing else in the output folder.
func (x *exchange) requireSuccess(t *testing.T) {
	t.Helper()
	if x.sender.ExitCode() != 0 || x.receiver.ExitCode() != 0 {
		t.Fatalf("transfer failed: sender exit %d, receiver exit %d\n%s", x.sender.ExitCode(), x.receiver.ExitCode(), x)
	}
	got, err := os.ReadFile(filepath.Join(x.out, x.name))
	if err != nil {
		t.Fatalf("%v\n%s", err, x)
	}
	if sha256.Sum256(got) != x.sum {
		t.Fatalf("received %d bytes with a different sha256\n%s", len(got), x)
	}
	if names := entries(t, x.out); len(names) != 1 {
		t.Fatalf("output folder holds %q, want only %s\n%s", names, x.name, x)
	}
}

// requireNothingLanded checks the output folder is empty: no final name,
// no staging folder left behind.
func (x *exchange) requireNothingLanded(t *testing.T) {
	t.Helper()
	if names := entries(t, x.out); len(names) != 0 {
		t.Errorf("after a failed transfer the output folder holds %q", names)
	}
}

// requireOnlyResumable checks that a transfer that failed half way gave
// nothing its final name and kept what arrived for a later run to resume:
// its staging folder (.ferry-partial-ID) and the record beside it
// (.ferry-partial-ID.resume), and nothing else.
func (x *exchange) requireOnlyResumable(t *testing.T) {
	t.Helper()
	names := entries(t, x.out)
	var staging, record bool
	for _, n := range names {
		switch {
		case strings.HasPrefix(n, ".ferry-partial-") && strings.HasSuffix(n, ".resume"):
			record = true
		case strings.HasPrefix(n, ".ferry-partial-"):
			staging = true
		default:
			t.Errorf("after a failed transfer the output folder holds %q", n)
		}
	}
	if !staging || !record {
		t.Errorf("after a transfer failed half way the output folder holds %q, not a staging folder and its resume record", names)
	}
}

// path is the path from the receiver's summary line ("Received … over PATH
// into DIR.").
func (x *exchange) path(t *testing.T) string {
	t.Helper()
	line, ok := netns.LineWithPrefix(x.receiver.Stderr(), "Received ")
	m := regexp.MustCompile(` over (.+?) into `).FindStringSubmatch(line)
	if !ok || m == nil {
		t.Fatalf("no \"Received … over PATH into DIR.\" line from the receiver\n%s", x)
	}
	t.Logf("path: %s", m[1])
	return m[1]
}

// mustStage waits (at most limit) until the receiver's staging folder
// holds n bytes, stopping both sides and failing the test if it does not,
// and returns how many it holds.
func (x *exchange) mustStage(t *testing.T, n int64, limit time.Duration) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := x.waitStaged(ctx, n); err != nil {
		x.stop()
		t.Fatalf("%v\n%s", err, x)
	}
	staged, _ := stagedBytes(x.out)
	return staged
}

// waitStaged waits until the receiver's staging folder holds n bytes.
func (x *exchange) waitStaged(ctx context.Context, n int64) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if got, _ := stagedBytes(x.out); got >= n {
			return nil
		}
		select {
		case <-x.receiver.Done():
			return fmt.Errorf("the receiver exited before %d bytes were staged", n)
		case <-ctx.Done():
			got, _ := stagedBytes(x.out)
			return fmt.Errorf("only %d of %d bytes staged after %v", got, n, time.Since(x.receiver.Started).Round(time.Millisecond))
		case <-tick.C:
		}
	}
}

// stagedBytes adds up the files in out's .ferry-partial-* folders.
func stagedBytes(out string) (int64, error) {
	stages, err := filepath.Glob(filepath.Join(out, ".ferry-partial-*"))
	var n int64
	for _, s := range stages {
		filepath.WalkDir(s, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n, err
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// buildFerry builds the ferry command into a temporary folder.
func buildFerry(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, gobin, "build", "-o", bin, "github.com/ferrydrop/ferry/cmd/ferry").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built ferry in %v", time.Since(start).Round(time.Millisecond))
	return bin
}
