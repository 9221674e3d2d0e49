package netns_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/netns"
)

// TestResume: an interrupted transfer goes on in the next run. Real ferry
// processes on a LAN of two namespaces (the sender serves the mailbox;
// no relay): one side is SIGKILLed half way, then both run again with a
// new code, and the bytes the receiver's interface took in during the
// second run, read from its kernel counters, must be less than 60% of
// the transfer. The 1 GiB subtests share one source file.
func TestResume(t *testing.T) {
	netns.Check(t)
	bin := buildFerry(t)
	src := t.TempDir()
	big := filepath.Join(src, "big.iso")
	bigSum := writeRandom(t, big, 1<<30)
	t.Run("KillSender", func(t *testing.T) {
		testResumeKilled(t, bin, []string{big}, "big.iso", map[string][32]byte{"big.iso": bigSum}, 1<<30, true)
	})
	t.Run("KillReceiver", func(t *testing.T) {
		testResumeKilled(t, bin, []string{big}, "big.iso", map[string][32]byte{"big.iso": bigSum}, 1<<30, false)
	})
	t.Run("Folder", func(t *testing.T) {
		sums := map[string][32]byte{}
		folder := filepath.Join(src, "photos")
		for i := range 200 {
			name := fmt.Sprintf("photos/%03d.jpg", i)
			sums[name] = writeRandom(t, filepath.Join(src, name), 1<<20+i)
		}
		var total int64
		for i := range 200 {
			total += 1<<20 + int64(i)
		}
		testResumeKilled(t, bin, []string{folder}, "photos", sums, total, true)
	})
}

// writeRandom writes size random bytes to path and returns their SHA-256.
func writeRandom(t *testing.T, path string, size int) [32]byte {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	rng := rand.NewChaCha8([32]byte{byte(size), byte(size >> 8), 7})
	if _, err := io.CopyN(io.MultiWriter(f, h), rng, int64(size)); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func testResumeKilled(t *testing.T, bin string, paths []string, top string, sums map[string][32]byte, total int64, killSender bool) {
	lab := netns.New(t)
	a, b := lab.LANPair("rsa", "rsb")
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	env := childEnv(filepath.Join(dir, "home"))
	flags := []string{"--lan", "only", "--transport", "tcp"}
	start := func(code string) (sender, receiver *netns.Proc) {
		t.Helper()
		e := append(append([]string{}, env...), "FERRY_CODE="+code)
		// Run 1 kills a side: the survivor must fail at once, as without
		// reconnecting, not look for a new path for 2 minutes.
		e = append(e, "FERRY_RECONNECT_TIMEOUT=0")
		sender = a.Start("sender", e, append(append([]string{bin, "send"}, flags...), paths...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := sender.WaitStderr(ctx, "Code:"); err != nil {
			t.Fatalf("%v\n%s", err, sender)
		}
		receiver = b.Start("receiver", e, append(append([]string{bin, "receive"}, flags...), "--yes", "--out", out)...)
		return sender, receiver
	}

	// Run 1: killed once about half has been staged.
	sender, receiver := start("7-guitarist-revenge")
	x := &exchange{sender: sender, receiver: receiver, out: out}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := x.waitStaged(ctx, total/2); err != nil {
		x.stop()
		t.Fatalf("%v\n%s", err, x)
	}
	victim, other := sender, receiver
	if !killSender {
		victim, other = receiver, sender
	}
	victim.Kill() // SIGKILL to its process group
	victim.Stop()
	if err := other.Wait(ctx); err != nil {
		x.stop()
		t.Fatalf("after the kill: %v\n%s", err, x)
	}
	if other.ExitCode() == 0 {
		t.Fatalf("%s succeeded although its peer was killed\n%s", other.Name, x)
	}
	staged, _ := stagedBytes(out)
	t.Logf("run 1: %s killed with %d of %d bytes staged", victim.Name, staged, total)

	// Run 2: a new code; the receiver's interface counts what arrives.
	before := rxBytes(t, b)
	sender, receiver = start("8-resume-again")
	x = &exchange{sender: sender, receiver: receiver, out: out}
	x.wait(t, 120*time.Second)
	if sender.ExitCode() != 0 || receiver.ExitCode() != 0 {
		t.Fatalf("the second run failed: sender exit %d, receiver exit %d\n%s", sender.ExitCode(), receiver.ExitCode(), x)
	}
	moved := rxBytes(t, b) - before
	if line, ok := netns.LineWithPrefix(receiver.Stderr(), "Resuming "); !ok {
		t.Errorf("the receiver did not say what it resumes\n%s", x)
	} else {
		t.Logf("run 2: %s; %d bytes arrived on the interface (%.0f%% of %d)", line, moved, 100*float64(moved)/float64(total), total)
	}
	if moved >= total*6/10 {
		t.Errorf("the second run moved %d bytes, not less than 60%% of %d\n%s", moved, total, x)
	}
	for name, sum := range sums {
		sameFileStreamed(t, filepath.Join(out, filepath.FromSlash(name)), sum)
	}
	if names := entries(t, out); len(names) != 1 || names[0] != top {
		t.Errorf("the output folder holds %q, want only %s", names, top)
	}
}

// rxBytes is what the host's eth0 has received, from the kernel's counter.
func rxBytes(t *testing.T, h *netns.Host) int64 {
	t.Helper()
	s := strings.TrimSpace(h.Exec("cat", "/sys/class/net/eth0/statistics/rx_bytes"))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("rx_bytes %q: %v", s, err)
	}
	return n
}

// sameFileStreamed is sameFile without reading the file into memory.
func sameFileStreamed(t *testing.T, path string, sum [32]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	if [32]byte(h.Sum(nil)) != sum {
		t.Fatalf("%s: %d bytes with another sha256", path, n)
	}
}
