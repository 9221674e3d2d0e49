package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/peertest"
	"github.com/ferrydrop/ferry/relay"
)

// TestReceiveSenderDiedBeforeOffer: ferry receive meets Python's wormhole
// send --verify, which then stops at its verifier prompt (before its
// transit hints and offer) and is killed (SIGKILL) there. The relay tells
// ferry nothing; ferry receive must give up after --offer-timeout with
// one line that says so, a hint, and exit 1.
func TestReceiveSenderDiedBeforeOffer(t *testing.T) {
	rs, err := relay.New(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rs)
	t.Cleanup(func() { rs.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
	file := filepath.Join(t.TempDir(), "never.txt")
	if err := os.WriteFile(file, []byte("never offered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const code = "44-python-dies"
	py, pyPrompt := peertest.HeldSender(ctx, t, url, "tcp:127.0.0.1:9", code, file)

	// ferry receive --verify asks on stdin once the versions are
	// exchanged: the sides met. Python is killed then, and only then is
	// ferry's question answered.
	inR, inW := io.Pipe()
	defer inW.Close()
	stderr := &watchWriter{want: "[y/N] ", seen: make(chan struct{})}
	c := newCLI(inR, io.Discard, stderr)
	exit := make(chan int, 1)
	go func() {
		exit <- c.run(ctx, []string{"receive", "--relay", url, "--verify", "--yes", "--out", t.TempDir(),
			"--transport", "tcp", "--transit", "none", "--stun", "none", "--lan", "off", "--offer-timeout", "2s", code})
	}()
	select {
	case <-stderr.seen:
	case got := <-exit:
		t.Fatalf("ferry receive exited %d before its verifier question:\n%s", got, stderr.String())
	}
	if err := <-pyPrompt; err != nil {
		t.Fatal(err)
	}
	if err := py.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = py.Wait()
	if _, err := io.WriteString(inW, "y\n"); err != nil {
		t.Fatal(err)
	}
	if got := <-exit; got != exitFailure {
		t.Fatalf("ferry receive exited %d, want %d:\n%s", got, exitFailure, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		"\nferry: error: the sender stopped before offering anything (nothing arrived for 2s)\n",
		"\nferry: hint: the sender's program may have ended or lost its network; ask for a new code (--offer-timeout waits longer)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("ferry receive's stderr has no %q:\n%s", strings.TrimSpace(want), out)
		}
	}
}

// watchWriter keeps what is written and closes seen once want appeared.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
