package netns_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// TestRelayRestartDuringRendezvous: ferry relay --data is SIGKILLed and
// started again while the receiver waits for the sender; the receiver
// reconnects and reopens its mailbox, the sender comes to the restarted
// relay, and the transfer completes. Real processes on a LAN of two
// namespaces, the relay beside the sender.
func TestRelayRestartDuringRendezvous(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	lab := netns.New(t)
	a, b := lab.LANPair("rra", "rrb")
	dir := t.TempDir()
	env := append(childEnv(filepath.Join(dir, "home")), "FERRY_CODE="+code)
	data := filepath.Join(dir, "relay-data")
	listen := a.Addr + ":4000"
	url := "ws://" + listen + "/v1"
	startRelay := func() *netns.Proc {
		t.Helper()
		p := a.Start("relay", env, bin, "relay", "--listen", listen, "--data", data)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := b.WaitListening(ctx, a.Addr, "4000"); err != nil {
			t.Fatalf("relay: %v\n%s", err, p)
		}
		return p
	}
	relay := startRelay()
	src := filepath.Join(dir, "src", "report.pdf")
	sum := randomFile(t, src, 3<<20)
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--relay", url, "--lan", "off", "--transport", "tcp", "--transit", "none", "--stun", "none"}
	receiver := b.Start("receiver", env, append(append([]string{bin, "receive", "-v"}, flags...), "--yes", "--out", out)...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The receiver has claimed the nameplate and posted its pake message
	// once the relay echoes it (the client logs every frame with -v).
	if _, err := receiver.WaitStderr(ctx, "time="); err != nil {
		t.Fatalf("%v\n%s", err, receiver)
	}
	waitLine(ctx, t, receiver, `type=message`)
	relay.Kill() // SIGKILL
	relay.Stop()
	time.Sleep(time.Second)
	relay = startRelay()
	waitLine(ctx, t, receiver, "reconnected to the relay")
	sender := a.Start("sender", env, append(append([]string{bin, "send"}, flags...), src)...)
	x := &exchange{sender: sender, receiver: receiver}
	x.wait(t, 60*time.Second)
	if sender.ExitCode() != 0 || receiver.ExitCode() != 0 {
		t.Fatalf("transfer failed: sender exit %d, receiver exit %d\n%s%s", sender.ExitCode(), receiver.ExitCode(), x, relay)
	}
	sameFile(t, filepath.Join(out, "report.pdf"), sum)
}

// waitLine waits until p's stderr has a line containing s.
func waitLine(ctx context.Context, t *testing.T, p *netns.Proc, s string) {
	t.Helper()
	for !strings.Contains(p.Stderr(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q from %s\n%s", s, p.Name, p)
		case <-p.Done():
			t.Fatalf("%s exited before saying %q\n%s", p.Name, s, p)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRelayRestartDuringReconnect: the mailbox websocket is redialled
// after the sides met. As TestReconnectAfterDrop, every packet between
// the peers is dropped for 10 s a quarter of the way through 64 MiB, so
// the path is given up (idle timeout 3 s) and a new one must be found
// through the mailbox; and at the start of the drop ferry relay --data is
// SIGKILLed and started again, so both sides' mailbox connections drop
// too. Both redial the relay, reopen the mailbox, and the same run
// completes, byte-identical. (Without the redial, the sender's request
// for a new path fails on its dead mailbox connection.)
func TestRelayRestartDuringReconnect(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	const size = 64 << 20
	w := newWorld(t, bin, public, public, servers{transport: "tcp", data: true, verbose: true})
	// No LAN mailbox (the hosts share a network): the sides meet on the relay.
	w.env = append(w.env, "FERRY_IDLE_TIMEOUT=3s", "FERRY_RECONNECT_TIMEOUT=60s", "FERRY_LAN=off")
	w.snd.Exec("tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "40mbit", "burst", "32kbit", "latency", "50ms")
	x := w.start(t, size)
	x.mustStage(t, size/4, 60*time.Second)
	if strings.Contains(x.sender.Stderr(), "LAN mailbox") {
		t.Fatalf("the sender serves a LAN mailbox\n%s", x)
	}
	rules := [][]string{{"INPUT", "-s", w.rcv.Addr, "-j", "DROP"}, {"OUTPUT", "-d", w.rcv.Addr, "-j", "DROP"}}
	for _, r := range rules {
		w.snd.Exec(append([]string{"iptables", "-I"}, r...)...)
	}
	dropped := time.Now()
	staged, _ := stagedBytes(x.out)
	t.Logf("dropping every packet between the peers, %d of %d bytes staged; restarting the relay", staged, size)
	w.relay.Kill() // SIGKILL
	w.relay.Stop()
	w.startRelay(t)
	t.Logf("relay back after %v", time.Since(dropped).Round(time.Millisecond))
	time.Sleep(10*time.Second - time.Since(dropped))
	for _, r := range rules {
		w.snd.Exec(append([]string{"iptables", "-D"}, r...)...)
	}
	during, _ := stagedBytes(x.out)
	t.Logf("packets flow again, %d bytes staged", during)
	x.wait(t, 120*time.Second)
	x.requireSuccess(t)
	for _, p := range []*netns.Proc{x.sender, x.receiver} {
		for _, s := range []string{"reconnecting…", "reconnected to the relay"} {
			if !strings.Contains(p.Stderr(), s) {
				t.Errorf("%s did not say %q\n%s", p.Name, s, x)
			}
		}
	}
}
