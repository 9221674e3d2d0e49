package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/ferrydrop/ferry/web"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ferry": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			c := newCLI(os.Stdin, os.Stdout, os.Stderr)
			// FERRY_TEST_SHARED=1 stands for a computer others log in
			// to, 0 for one they do not (Setup's default).
			if v, ok := os.LookupEnv("FERRY_TEST_SHARED"); ok {
				c.sharedComputer = func() bool { return v == "1" }
			}
			code := c.run(ctx, os.Args[1:])
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs the CLI scenarios in testdata/script. Scenarios that
// need Debian's Magic Wormhole packages skip without them, unless
// FERRY_REQUIRE_PEERS=1 (as in CI), when they fail.
func TestScripts(t *testing.T) {
	cmds := map[string]func(*testscript.TestScript, bool, []string){
		"startrelay": cmdStartRelay,
		"stoprelay":  cmdStopRelay,
		"waitlog":    cmdWaitLog,
		"mkfile":     cmdMkfile,
		"samefile":   cmdSamefile,
		// classic transfers (script_transit_test.go)
		"starttransit": cmdStartTransit,
		// a relay that lies (liar_test.go)
		"startliar": cmdStartLiar,
		// several relays on one NATS JetStream cluster (script_cluster_test.go)
		"startcluster": cmdStartCluster,
		"stopnode":     cmdStopNode,
		"termnode":     cmdTermNode,
		"metric":       cmdMetric,
		// the code prompt on a terminal (prompt_script_test.go)
		"ptytype": cmdPtyType,
	}
	for name, f := range emailCmds() {
		cmds[name] = f
	}
	ports := &portPicker{}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Nothing in a test may reach the public relay.
			env.Setenv("FERRY_RELAY", "ws://127.0.0.1:1/v1")
			// ...nor a public STUN server, nor a non-loopback address.
			env.Setenv("FERRY_STUN", "none")
			env.Setenv("FERRY_ICE_LOOPBACK", "1")
			env.Setenv("FERRY_LAN", "off")                 // nor the machine's network by multicast DNS
			env.Setenv("FERRY_TRANSIT", "tcp:127.0.0.1:1") // nor the public transit relay
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("FERRY_TEST_SHARED", "0") // no warnings about codes in argv
			env.Values[relayKey{}] = make([]*relayProc, 1)
			env.Values[clusterKey{}] = new([]*relayProc)
			env.Values[portsKey{}] = ports
			return nil
		},
		Condition: peerInstalled,
		Cmds:      cmds,
	})
}

// peerInstalled is the condition [peer:PROGRAM]: whether a real peer
// program is installed. Scripts say "[!peer:wormhole] skip"; with
// FERRY_REQUIRE_PEERS=1 (as in CI) a missing peer is an error instead.
func peerInstalled(cond string) (bool, error) {
	if cond == "page" { // this binary embeds the web page's program (scripts/build-web)
		if !web.Built(web.Files()) && os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			return false, errors.New("the web page is not built (bash scripts/build-web) and FERRY_REQUIRE_PEERS=1")
		}
		return web.Built(web.Files()), nil
	}
	prog, ok := strings.CutPrefix(cond, "peer:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(prog); err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			return false, fmt.Errorf("%s is not installed and FERRY_REQUIRE_PEERS=1", prog)
		}
		return false, nil
	}
	return true, nil
}

type relayProc struct {
	cmd     *exec.Cmd
	transit *relayProc    // the reference transit relay, run beside the reference mailbox
	done    chan struct{} // closed when the process has exited
}

// startRelayProc starts cmd and watches for its exit.
func startRelayProc(ts *testscript.TestScript, cmd *exec.Cmd) *relayProc {
	// Python buffers its output into a file: unbuffered, a relay that
	// hangs or fails at start-up shows why in its log.
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	ts.Check(cmd.Start())
	p := &relayProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p
}

func (p *relayProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// startrelay [-port N] [-ice] [-transit] ferry|reference [ARGS...]: start
// `ferry relay` or the reference Python mailbox server on loopback, wait
// until it listens, and point FERRY_RELAY at it (RELAY_PORT holds the
// port). With -ice, ferry relay also serves STUN and TURN, and FERRY_STUN,
// FERRY_TURN, FERRY_TURN_USER and FERRY_TURN_PASS point at them. With
// -transit, ferry relay also runs its transit relay, or the reference
// transit relay runs beside the reference mailbox, and FERRY_TRANSIT
// (tcp:127.0.0.1:PORT) and TRANSIT_PORT point at it.
func cmdStartRelay(ts *testscript.TestScript, neg bool, args []string) {
	port, ice, transit := 0, false, false
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "-port" && len(args) >= 2:
			p, err := strconv.Atoi(args[1])
			ts.Check(err)
			port, args = p, args[2:]
		case args[0] == "-ice":
			ice, args = true, args[1:]
		case args[0] == "-transit":
			transit, args = true, args[1:]
		default:
			ts.Fatalf("startrelay: unknown option %s", args[0])
		}
	}
	if len(args) < 1 {
		ts.Fatalf("usage: startrelay [-port N] ferry|reference [ARGS...]")
	}
	if port == 0 {
		port = freePort(ts)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	transitAddr := ""
	if transit {
		transitAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(ts)))
	}
	var cmd *exec.Cmd
	switch args[0] {
	case "ferry":
		bin := lookPathIn(ts, "ferry")
		extra := args[1:]
		if ice {
			stun, turn := freeUDPPort(ts), freeUDPPort(ts)
			extra = append(extra, "--stun-listen", fmt.Sprintf("127.0.0.1:%d", stun),
				"--turn-listen", fmt.Sprintf("127.0.0.1:%d", turn), "--turn-ip", "127.0.0.1",
				"--turn-user", "ferry-test", "--turn-pass", "not-a-secret")
			ts.Setenv("FERRY_STUN", fmt.Sprintf("stun:127.0.0.1:%d", stun))
			ts.Setenv("FERRY_TURN", fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", turn))
			ts.Setenv("FERRY_TURN_USER", "ferry-test")
			ts.Setenv("FERRY_TURN_PASS", "not-a-secret")
		}
		if transit {
			extra = append(extra, "--transit-listen", transitAddr)
		}
		cmd = exec.Command(bin, append([]string{"relay", "--listen", addr}, extra...)...)
	case "reference":
		cmd = exec.Command("twist3", append([]string{"wormhole-mailbox",
			"--port", fmt.Sprintf("tcp:%d:interface=127.0.0.1", port),
			"--channel-db", filepath.Join(ts.Getenv("WORK"), "reference-mailbox.sqlite")}, args[1:]...)...)
	default:
		ts.Fatalf("unknown relay %q", args[0])
	}
	logf, err := os.Create(filepath.Join(ts.Getenv("WORK"), "relay-"+args[0]+".log"))
	ts.Check(err)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logf, logf, ts.Getenv("WORK")
	p := startRelayProc(ts, cmd)
	ts.Defer(func() { p.stop(); logf.Close() })
	if transit && args[0] == "reference" {
		p.transit = startReferenceTransit(ts, transitAddr)
	}
	waitListen(ts, p, args[0]+" relay", addr, logf.Name())
	if transit {
		if p.transit == nil {
			waitListen(ts, p, "ferry transit relay", transitAddr, logf.Name())
		}
		ts.Setenv("FERRY_TRANSIT", "tcp:"+transitAddr)
		_, tport, _ := net.SplitHostPort(transitAddr)
		ts.Setenv("TRANSIT_PORT", tport)
	}
	ts.Setenv("FERRY_RELAY", "ws://"+addr+"/v1")
	ts.Setenv("RELAY_PORT", strconv.Itoa(port))
	relays(ts)[0] = p
}

type relayKey struct{}

// relays is the per-script slot for the running relay.
func relays(ts *testscript.TestScript) []*relayProc {
	return ts.Value(relayKey{}).([]*relayProc)
}

// stoprelay: stop the relay startrelay started, gracefully.
func cmdStopRelay(ts *testscript.TestScript, neg bool, args []string) {
	p := relays(ts)[0]
	if p == nil {
		ts.Fatalf("no relay running")
	}
	p.stop()
	relays(ts)[0] = nil
}

func (p *relayProc) stop() {
	if p.transit != nil {
		p.transit.stop()
	}
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// waitlog FILE REGEXP: wait (up to 20 s) until FILE has a line matching REGEXP.
func cmdWaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: waitlog FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(b) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s has no line matching %q:\n%s", args[0], args[1], b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mkfile NAME SIZE: write SIZE bytes (K, M, G suffixes) of pseudo-random
// data, streamed, so large files cost no memory.
func cmdMkfile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mkfile NAME SIZE")
	}
	size := parseSize(ts, args[1])
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	r := rand.NewChaCha8([32]byte{1}) // an io.Reader
	_, err = io.CopyN(f, r, size)
	ts.Check(err)
	ts.Check(f.Close())
}

func parseSize(ts *testscript.TestScript, s string) int64 {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	ts.Check(err)
	return n * mult
}

// samefile A B: the two files have the same content (compared by SHA-256,
// streamed).
func cmdSamefile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: samefile A B")
	}
	sum := func(name string) string {
		f, err := os.Open(ts.MkAbs(name))
		ts.Check(err)
		defer f.Close()
		h := sha256.New()
		_, err = io.Copy(h, f)
		ts.Check(err)
		return hex.EncodeToString(h.Sum(nil))
	}
	if a, b := sum(args[0]), sum(args[1]); (a == b) == neg {
		ts.Fatalf("%s and %s: sha256 %s vs %s", args[0], args[1], a, b)
	}
}

// freePort returns a free TCP port on loopback for a relay to listen on.
// It comes from below the kernel's ephemeral range (32768 and up
// here): a port the kernel hands out for ":0" may be handed out again, as
// the local port of any outgoing connection, before the relay that is to
// listen on it has started, and the tests make many connections.
func freePort(ts *testscript.TestScript) int {
	return ts.Value(portsKey{}).(*portPicker).pick(func(addr string) (io.Closer, error) { return net.Listen("tcp", addr) })
}

// freeUDPPort is freePort for UDP.
func freeUDPPort(ts *testscript.TestScript) int {
	return ts.Value(portsKey{}).(*portPicker).pick(func(addr string) (io.Closer, error) { return net.ListenPacket("udp4", addr) })
}

// portsKey is where a script finds the run's portPicker.
type portsKey struct{}

// portPicker hands out ports of the fixed range, each at most once in a
// run of the scripts: a port is free when it is picked but bound only
// when its relay starts, so a port picked twice (for a relay's mailbox
// and its transit relay, or by two scripts at once) could be taken by
// the other in between (a whole-suite run once failed so, with
// "bind: address already in use").
type portPicker struct {
	mu    sync.Mutex
	given map[int]bool
}

// pick returns a random port of the fixed range, not handed out before,
// that listen can take on loopback.
func (p *portPicker) pick(listen func(addr string) (io.Closer, error)) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.given == nil {
		p.given = map[int]bool{}
	}
	for {
		port := fixedPortBase + rand.IntN(fixedPortSpan)
		if p.given[port] {
			continue
		}
		if c, err := listen(fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			p.given[port] = true
			return port
		}
	}
}

// The ports relays started by the scripts listen on: 20000–32767, below
// the ephemeral range.
const fixedPortBase, fixedPortSpan = 20000, 12768

func lookPathIn(ts *testscript.TestScript, name string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	ts.Fatalf("%s not found on the script's PATH", name)
	return ""
}
