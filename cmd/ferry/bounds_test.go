package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"io/fs"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/relay"
)

// TestBounds runs real ferry processes (a binary built for the test, so
// that one side can be stopped with SIGSTOP while the other runs on) and
// checks that every wait of a transfer ends within its bound, with a
// message: a stalled peer on direct TCP and on QUIC, a signal while a
// write is blocked, a relay lost after the data moved, and a receiver
// killed mid-transfer.
func TestBounds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ferry and runs it; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Stalls are bounded on every path: direct TCP, ICE/QUIC and the
	// transit relay between two ferries.
	for _, transport := range []string{"tcp", "ice", "relay"} {
		t.Run("stalled receiver/"+transport, func(t *testing.T) {
			t.Parallel()
			p := startPair(t, bin, transport, "--idle-timeout", "3s", "--reconnect-timeout", "0")
			p.waitReceiving(t)
			p.recv.stop(t)
			p.send.exits(t, 12*time.Second, false, "stopped responding", "nothing moved for 3s")
			p.recv.cont(t)
			p.recv.exits(t, 12*time.Second, false, "")
			p.nothingLanded(t)
		})
		t.Run("stalled sender/"+transport, func(t *testing.T) {
			t.Parallel()
			p := startPair(t, bin, transport, "--idle-timeout", "3s", "--reconnect-timeout", "0")
			p.waitReceiving(t)
			p.send.stop(t)
			p.recv.exits(t, 12*time.Second, false, "stopped responding", "nothing moved for 3s")
			p.nothingLanded(t)
		})
	}
	for _, transport := range []string{"tcp", "ice"} {
		t.Run("SIGTERM while a write is blocked/"+transport, func(t *testing.T) {
			t.Parallel()
			p := startPair(t, bin, transport, "--idle-timeout", "1m", "--reconnect-timeout", "0")
			p.waitReceiving(t)
			p.recv.stop(t)
			time.Sleep(time.Second) // the sender fills every buffer and blocks in a write
			start := time.Now()
			p.send.signal(t, syscall.SIGTERM)
			p.send.exits(t, 3*time.Second, false, "ferry: error: interrupted")
			t.Logf("the sender ended %s after SIGTERM", time.Since(start).Round(time.Millisecond))
		})
		t.Run("relay lost after the data/"+transport, func(t *testing.T) {
			t.Parallel()
			p := startPair(t, bin, transport)
			p.waitReceiving(t)
			p.relay.Close() // the mailbox connections drop mid-transfer
			p.ts.Close()
			p.finishFeeding(t)
			p.send.exits(t, 20*time.Second, true, "Sent ")
			p.recv.exits(t, 20*time.Second, true, "Received ")
			p.landed(t)
		})
	}
	// A receiver killed mid-transfer (its kernel closes its sockets, the
	// transit relay closes the pair): the sender says so in words, not
	// what the path said ("write: connection reset by peer").
	for _, transport := range []string{"tcp", "relay"} {
		t.Run("killed receiver/"+transport, func(t *testing.T) {
			t.Parallel()
			p := startPair(t, bin, transport, "--reconnect-timeout", "0")
			p.waitReceiving(t)
			p.recv.signal(t, syscall.SIGKILL)
			p.send.exits(t, 12*time.Second, false, "ferry: error: the receiver went away, or the connection to it broke, before the transfer was complete (")
		})
	}
	t.Run("stalled receiver, default idle timeout", func(t *testing.T) {
		t.Parallel()
		p := startPair(t, bin, "tcp", "--reconnect-timeout", "0")
		p.waitReceiving(t)
		p.recv.stop(t)
		p.send.exits(t, 45*time.Second, false, "stopped responding", "nothing moved for 30s")
	})
}

// pair is a sender fed from a pipe and a receiver, through an in-process
// ferry relay.
type pair struct {
	relay      *relay.Server
	ts         *httptest.Server
	send, recv *proc
	out        string
	feed       io.WriteCloser
	sent       *sync.WaitGroup
	mu         sync.Mutex
	hash       []byte // of everything fed, once feeding ended
	h          io.Writer
	stopFeed   chan struct{}
}

// startPair starts a transfer of data from stdin over transport (tcp:
// direct TCP only; ice: ICE and QUIC on loopback; relay: an in-process
// transit relay) and feeds it 4 MiB at once and more as the sender takes
// it.
func startPair(t *testing.T, bin, transport string, extra ...string) *pair {
	t.Helper()
	s, err := relay.New(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
	transit := "none"
	if transport == "relay" {
		transit = startTransitRelay(t)
	}
	common := append([]string{"--relay", url, "--transport", transport, "--stun", "none", "--transit", transit}, extra...)
	p := &pair{relay: s, ts: ts, out: t.TempDir(), sent: &sync.WaitGroup{}, stopFeed: make(chan struct{})}
	hash := sha256.New()
	p.h = hash
	pr, pw := io.Pipe()
	p.feed = pw
	p.send = startProc(t, bin, pr, append(append([]string{"send"}, common...), "--code", "5-bounds-test", "--name", "data.bin", "-")...)
	p.sent.Add(1)
	go func() { // feed until told to stop or the sender stops reading
		defer p.sent.Done()
		buf := make([]byte, 256<<10)
		for i := 0; ; i++ {
			select {
			case <-p.stopFeed:
				pw.Close()
				p.mu.Lock()
				p.hash = hash.Sum(nil)
				p.mu.Unlock()
				return
			default:
			}
			rand.Read(buf)
			if _, err := pw.Write(buf); err != nil {
				return
			}
			hash.Write(buf)
			if i > 16 { // 4 MiB at once, then at a steady pace
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	t.Cleanup(func() { pr.CloseWithError(io.ErrClosedPipe) })
	p.send.waitFor(t, "Code: ")
	p.recv = startProc(t, bin, nil, append(append([]string{"receive"}, common...), "--yes", "--out", p.out, "5-bounds-test")...)
	return p
}

// startTransitRelay runs ferry's transit relay until the test ends and
// returns its address.
func startTransitRelay(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.NewTransit(relay.TransitConfig{}).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// waitReceiving waits until a few MiB have landed in the receiver's
// temporary file.
func (p *pair) waitReceiving(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var total int64
		filepath.WalkDir(p.out, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
		if total >= 2<<20 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing arrived within 20s\nsender:\n%s\nreceiver:\n%s", p.send.out.String(), p.recv.out.String())
}

func (p *pair) finishFeeding(t *testing.T) {
	close(p.stopFeed)
	p.sent.Wait()
}

// landed checks the file arrived whole under its name.
func (p *pair) landed(t *testing.T) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(p.out, "data.bin"))
	if err != nil {
		t.Fatalf("the file did not land: %v", err)
	}
	p.mu.Lock()
	want := p.hash
	p.mu.Unlock()
	if sum := sha256.Sum256(got); !bytes.Equal(sum[:], want) {
		t.Fatalf("the file that landed (%d bytes) differs from what was sent", len(got))
	}
}

// nothingLanded checks the receiver left nothing behind.
func (p *pair) nothingLanded(t *testing.T) {
	t.Helper()
	if p.recv.running() {
		p.recv.cont(t)
		p.recv.exits(t, 12*time.Second, false, "")
	}
	entries, _ := os.ReadDir(p.out)
	for _, e := range entries {
		t.Errorf("the receiver left %s behind", e.Name())
	}
}

// proc is a ferry process whose output a test reads while it runs.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, bin string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "FERRY_ICE_LOOPBACK=1", "FERRY_LAN=off", "HOME="+t.TempDir())
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, io.Discard, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if p.running() {
			_ = cmd.Process.Signal(syscall.SIGCONT)
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

func (p *proc) stop(t *testing.T) { p.signal(t, syscall.SIGSTOP) }
func (p *proc) cont(t *testing.T) { p.signal(t, syscall.SIGCONT) }

// waitFor waits for s on the process's stderr.
func (p *proc) waitFor(t *testing.T, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-ctx.Done():
			t.Fatalf("no %q within 20s:\n%s", s, p.out.String())
		case <-p.done:
			t.Fatalf("exited (%v) before %q:\n%s", p.err, s, p.out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// exits checks the process ends within d, successfully or not as ok
// says, and that its stderr holds every one of want.
func (p *proc) exits(t *testing.T, d time.Duration, ok bool, want ...string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		if os.Getenv("FERRY_BOUNDS_DUMP") != "" {
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			<-p.done
		}
		t.Fatalf("%s still running after %s:\n%s", p.cmd.Args[1], d, p.out.String())
	}
	if (p.err == nil) != ok {
		t.Fatalf("%s exited with %v, want success=%v:\n%s", p.cmd.Args[1], p.err, ok, p.out.String())
	}
	for _, w := range want {
		if !strings.Contains(p.out.String(), w) {
			t.Errorf("%s's stderr lacks %q:\n%s", p.cmd.Args[1], w, p.out.String())
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process to write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
