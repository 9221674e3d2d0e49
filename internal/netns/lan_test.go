package netns_test

import (
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// noRelayLine is what ferry send prints when only the LAN serves its code.
const noRelayLine = "no relay reachable: only receivers on this network can use the code"

// TestLAN: no internet, no problem. ferry send serves its own mailbox on
// the LAN and advertises it over multicast DNS; ferry receive finds it.
// Real ferry processes in namespaces; the subtests run one at a time.
func TestLAN(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	t.Run("NoRelay", func(t *testing.T) { testLANNoRelay(t, bin) })
	t.Run("ClassicReceiver", func(t *testing.T) { testLANClassic(t, bin) })
	t.Run("RelayBlackholed", func(t *testing.T) { testLANBlackholed(t, bin) })
	t.Run("HostileAdvertiser", func(t *testing.T) { testLANHostile(t, bin) })
}

// lanPeer is one side of a transfer on a LAN.
type lanPeer struct {
	h   *netns.Host
	env []string
}

// transfer runs ferry send with sendArgs on snd and, once it printed its
// code, ferry receive with recvArgs on rcv; it returns both, ended (or
// killed after limit).
func lanTransfer(t *testing.T, bin string, snd, rcv lanPeer, sendArgs, recvArgs []string, limit time.Duration) (sender, receiver *netns.Proc) {
	t.Helper()
	sender = snd.h.Start("sender", snd.env, append([]string{bin, "send"}, sendArgs...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sender.WaitStderr(ctx, "Code:"); err != nil {
		t.Fatalf("%v\n%s", err, sender)
	}
	receiver = rcv.h.Start("receiver", rcv.env, append([]string{bin, "receive"}, recvArgs...)...)
	waitBoth(t, limit, sender, receiver)
	if sender.ExitCode() != 0 || receiver.ExitCode() != 0 {
		t.Fatalf("transfer failed: sender exit %d, receiver exit %d\n%s%s", sender.ExitCode(), receiver.ExitCode(), sender, receiver)
	}
	return sender, receiver
}

// pair is a LAN of two namespaces and nothing else, both sides with the
// code in FERRY_CODE and every other setting at its default (the public
// relay, STUN and transit servers, none of them reachable).
func pair(t *testing.T) (snd, rcv lanPeer, dir string) {
	lab := netns.New(t)
	a, b := lab.LANPair("lana", "lanb")
	dir = t.TempDir()
	env := append(childEnv(filepath.Join(dir, "home")), "FERRY_CODE="+code)
	return lanPeer{a, env}, lanPeer{b, env}, dir
}

func randomFile(t *testing.T, path string, size int) [32]byte {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size), 1}).Read(data)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func sameFile(t *testing.T, path string, sum [32]byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sum {
		t.Fatalf("%s: %d bytes with another sha256", path, len(got))
	}
}

// 1. No relay anywhere: text, a 50 MiB file and a folder arrive.
func testLANNoRelay(t *testing.T, bin string) {
	snd, rcv, dir := pair(t)
	sender, receiver := lanTransfer(t, bin, snd, rcv, []string{"--text", "offline hello"}, nil, 60*time.Second)
	if got := strings.TrimSpace(receiver.Stdout()); got != "offline hello" {
		t.Fatalf("received text %q\n%s%s", got, sender, receiver)
	}
	if _, ok := netns.LineWithPrefix(sender.Stderr(), noRelayLine); !ok {
		t.Errorf("the sender did not say %q\n%s", noRelayLine, sender)
	}

	big := filepath.Join(dir, "src", "big.bin")
	sum := randomFile(t, big, 50<<20)
	out := filepath.Join(dir, "out-file")
	os.MkdirAll(out, 0o755)
	_, receiver = lanTransfer(t, bin, snd, rcv, []string{big}, []string{"--yes", "--out", out}, 120*time.Second)
	sameFile(t, filepath.Join(out, "big.bin"), sum)
	t.Logf("50 MiB: %s", lastLine(receiver.Stderr(), "Received "))

	folder := filepath.Join(dir, "src", "folder")
	sums := map[string][32]byte{}
	for i, name := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.bin"} {
		sums[name] = randomFile(t, filepath.Join(folder, name), 1000+i*70000)
	}
	out = filepath.Join(dir, "out-folder")
	os.MkdirAll(out, 0o755)
	lanTransfer(t, bin, snd, rcv, []string{folder}, []string{"--yes", "--out", out}, 60*time.Second)
	for name, sum := range sums {
		sameFile(t, filepath.Join(out, "folder", name), sum)
	}
}

func lastLine(s, prefix string) string {
	l, _ := netns.LineWithPrefix(s, prefix)
	return l
}

// 2. A classic client (Python's wormhole) receives from the LAN mailbox
// whose URL ferry send -v printed.
func testLANClassic(t *testing.T, bin string) {
	py, err := exec.LookPath("wormhole")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_PEERS") == "1" {
			t.Fatal("wormhole (magic-wormhole) is not installed and FERRY_REQUIRE_PEERS=1")
		}
		t.Skip("wormhole (magic-wormhole) is not installed")
	}
	snd, rcv, dir := pair(t)
	src := filepath.Join(dir, "src", "classic.bin")
	sum := randomFile(t, src, 1<<20)
	sender := snd.h.Start("sender", snd.env, bin, "send", "-v", src)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sender.WaitStderr(ctx, "Code:"); err != nil {
		t.Fatalf("%v\n%s", err, sender)
	}
	m := regexp.MustCompile(`LAN mailbox.* url=(ws://\S+/v1)`).FindStringSubmatch(sender.Stderr())
	if m == nil {
		t.Fatalf("ferry send -v printed no LAN mailbox URL\n%s", sender)
	}
	out := filepath.Join(dir, "classic-out.bin")
	receiver := rcv.h.Start("python receiver", rcv.env, py, "--relay-url", m[1], "receive", "--accept-file", "-o", out, code)
	waitBoth(t, 60*time.Second, sender, receiver)
	if sender.ExitCode() != 0 || receiver.ExitCode() != 0 {
		t.Fatalf("classic transfer failed\n%s%s", sender, receiver)
	}
	sameFile(t, out, sum)
}

// 3. The relay is reachable from the sender but drops every packet from
// the receiver: the receive still completes over the LAN within 10 s.
func testLANBlackholed(t *testing.T, bin string) {
	lab := netns.New(t)
	w := &world{bin: bin, dir: t.TempDir(), in: lab.Internet()}
	w.env = append(childEnv(filepath.Join(w.dir, "home")), "FERRY_CODE="+code)
	w.startRelay(t)
	a := w.in.PublicHost("lana", "198.18.0.11")
	b := w.in.PublicHost("lanb", "198.18.0.12")
	b.Exec("iptables", "-A", "OUTPUT", "-d", netns.PublicGateway, "-j", "DROP")
	flags := []string{"--relay", "ws://" + netns.PublicGateway + ":4000/v1", "--stun", "none", "--transit", "none"}
	src := filepath.Join(w.dir, "src", "file.bin")
	sum := randomFile(t, src, 4<<20)
	out := filepath.Join(w.dir, "out")
	os.MkdirAll(out, 0o755)
	sender, receiver := lanTransfer(t, bin, lanPeer{a, w.env}, lanPeer{b, w.env},
		append(flags, src), append(flags, "--yes", "--out", out), 60*time.Second)
	sameFile(t, filepath.Join(out, "file.bin"), sum)
	if _, ok := netns.LineWithPrefix(sender.Stderr(), noRelayLine); ok {
		t.Errorf("the sender reaches the relay, but said %q", noRelayLine)
	}
	if d := receiver.Runtime(); d > 10*time.Second {
		t.Fatalf("the receive took %v with the relay blackholed, want at most 10 s\n%s", d.Round(time.Millisecond), receiver)
	}
	t.Logf("received in %v with the relay blackholed", receiver.Runtime().Round(time.Millisecond))
}

// 4. A hostile device on the LAN advertises the same nameplate from a
// real mailbox of its own, where a Go client (this test binary, run in
// its namespace) claimed it and sends a wrong PAKE. The transfer still
// completes through the sender's mailbox, and the advertiser's exchange
// fails: the receiver tried it, and took nothing from it.
func testLANHostile(t *testing.T, bin string) {
	lab := netns.New(t)
	in := lab.Internet() // a bridge: one LAN of three hosts, no relay
	dir := t.TempDir()
	env := append(childEnv(filepath.Join(dir, "home")), "FERRY_CODE="+code)
	a := in.PublicHost("lana", "198.18.0.11")
	b := in.PublicHost("lanb", "198.18.0.12")
	evil := in.PublicHost("evil", "198.18.0.13")
	nameplate, _, _ := strings.Cut(code, "-")
	hostile := evil.Start("hostile", append(env, hostileEnv+"="+nameplate+"-wrong-guess"),
		os.Args[0], "-test.run=^TestHostileAdvertiserHelper$", "-test.v")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := hostile.WaitStderr(ctx, "hostile: advertising"); err != nil {
		t.Fatalf("%v\n%s", err, hostile)
	}
	src := filepath.Join(dir, "src", "genuine.bin")
	sum := randomFile(t, src, 1<<20)
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	_, receiver := lanTransfer(t, bin, lanPeer{a, env}, lanPeer{b, env}, []string{src}, []string{"-v", "--yes", "--out", out}, 60*time.Second)
	sameFile(t, filepath.Join(out, "genuine.bin"), sum)
	if names := entries(t, out); len(names) != 1 {
		t.Fatalf("output folder holds %q, want only genuine.bin", names)
	}
	// The receiver tried the hostile mailbox and dropped it: with a wrong
	// code when its version message reached the advertiser first, else
	// cancelled once the sender's first message came.
	tried := regexp.MustCompile(`msg="mailbox failed" mailbox="lan ws://` + regexp.QuoteMeta(evil.Addr) + `:\d+/v1" err="([^"]*)"`).FindStringSubmatch(receiver.Stderr())
	if tried == nil {
		t.Fatalf("the receiver's log does not show it tried and dropped the hostile mailbox\n%s%s", receiver, hostile)
	}
	t.Logf("the receiver dropped the hostile mailbox: %s", tried[1])
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer wcancel()
	if line, err := hostile.WaitStderr(wctx, "hostile: exchange ended:"); err == nil && !strings.Contains(line, "code was wrong") {
		t.Fatalf("the hostile exchange did not end with a wrong code: %s", line)
	}
}

// waitBoth waits up to limit for the sender and the receiver to exit, and
// stops both and fails the test (with their output) when either does not.
func waitBoth(t *testing.T, limit time.Duration, sender, receiver *netns.Proc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, p := range []*netns.Proc{receiver, sender} {
		if err := p.Wait(ctx); err != nil {
			sender.Stop()
			receiver.Stop()
			t.Fatalf("%v\n%s%s", err, sender, receiver)
		}
	}
}
