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
