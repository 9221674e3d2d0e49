package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ferry": func() {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			stop()
			os.Exit(code)
		},
	})
}

// TestScripts runs the CLI scenarios in testdata/script. Scenarios that
// need Debian's Magic Wormhole packages skip without them, unless
// FERRY_REQUIRE_PEERS=1 (as in CI), when they fail.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Nothing in a test may reach the public relay.
			env.Setenv("FERRY_RELAY", "ws://127.0.0.1:1/v1")
			// ...nor a public STUN server, nor a non-loopback address.
			env.Setenv("FERRY_STUN", "none")
			env.Setenv("FERRY_ICE_LOOPBACK", "1")
			env.Setenv("HOME", env.WorkDir)
			env.Values[relayKey{}] = make([]*relayProc, 1)
			return nil
		},
		Condition: peerInstalled,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"startrelay": cmdStartRelay,
			"stoprelay":  cmdStopRelay,
			"waitlog":    cmdWaitLog,
		},
	})
}

// peerInstalled is the condition [peer:PROGRAM]: whether a real peer
// program is installed. Scripts say "[!peer:wormhole] skip"; with
// FERRY_REQUIRE_PEERS=1 (as in CI) a missing peer is an error instead.
func peerInstalled(cond string) (bool, error) {
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

type relayProc struct{ cmd *exec.Cmd }

// startrelay [-port N] ferry|reference [ARGS...]: start `ferry relay` or
// the reference Python mailbox server on loopback, wait until it listens,
// and point FERRY_RELAY at it (RELAY_PORT holds the port).
func cmdStartRelay(ts *testscript.TestScript, neg bool, args []string) {
	port := 0
	if len(args) >= 2 && args[0] == "-port" {
		p, err := strconv.Atoi(args[1])
		ts.Check(err)
		port, args = p, args[2:]
	}
	if len(args) < 1 {
		ts.Fatalf("usage: startrelay [-port N] ferry|reference [ARGS...]")
	}
	if port == 0 {
		port = freePort(ts)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var cmd *exec.Cmd
	switch args[0] {
	case "ferry":
		bin := lookPathIn(ts, "ferry")
		cmd = exec.Command(bin, append([]string{"relay", "--listen", addr}, args[1:]...)...)
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
	cmd.Env = os.Environ()
	ts.Check(cmd.Start())
	p := &relayProc{cmd: cmd}
	ts.Defer(func() { p.stop(); logf.Close() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s relay did not listen on %s: %v\n%s", args[0], addr, err, ts.ReadFile(logf.Name()))
		}
		time.Sleep(50 * time.Millisecond)
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
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
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

func freePort(ts *testscript.TestScript) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

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
