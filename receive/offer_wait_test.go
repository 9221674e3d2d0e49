package receive_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/peertest"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// TestReceiverGivesUpOnPythonSenderKilledBeforeOffer: Python's wormhole
// send --verify sends its version, then stops at its verifier prompt
// before its transit hints and its offer. Killed there (SIGKILL) it says
// nothing more, and the relay tells the receiver nothing: the receiver
// must give up after its OfferTimeout, with ErrNoOffer.
func TestReceiverGivesUpOnPythonSenderKilledBeforeOffer(t *testing.T) {
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
	// Python starts in about a second, in many more on a loaded machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const code = "43-python-dies"
	py, prompt := peertest.HeldSender(ctx, t, url, "tcp:127.0.0.1:9", code, file)
	var killed time.Time
	const bound = 2 * time.Second
	_, err = receive.Run(ctx, code, receive.Options{Relay: url, Accept: func(receive.Manifest) error { return nil }, Out: t.TempDir(),
		Transport: "tcp", OfferTimeout: bound,
		// Called once the versions are exchanged; Python is at its
		// prompt, which holds back its transit hints and offer.
		Verify: func(string) error {
			if err := <-prompt; err != nil {
				return err
			}
			if err := py.Process.Kill(); err != nil {
				return err
			}
			_ = py.Wait()
			killed = time.Now()
			return nil
		}})
	if !errors.Is(err, receive.ErrNoOffer) {
		t.Fatalf("receive = %v, want ErrNoOffer", err)
	}
	if want := "the sender stopped before offering anything (nothing arrived for 2s)"; err.Error() != want {
		t.Fatalf("receive = %q, want %q", err, want)
	}
	if waited := time.Since(killed); waited < bound {
		t.Fatalf("the receiver gave up %v after the sender died, before its bound of %v", waited, bound)
	}
}

// TestOfferTimeoutBoundsOnlyTheOffer: what comes after the offer (here
// the user's decision, slower than the bound) is not cut short by
// OfferTimeout.
func TestOfferTimeoutBoundsOnlyTheOffer(t *testing.T) {
	ctx, url := setup(t)
	src := filepath.Join(t.TempDir(), "slow-yes.txt")
	if err := os.WriteFile(src, []byte("accepted late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "45-slow-yes"}, Transport: "tcp"}, []string{src})
		errc <- err
	}()
	const bound = 300 * time.Millisecond
	out := t.TempDir()
	_, err := receive.Run(ctx, "45-slow-yes", receive.Options{Relay: url, Out: out, Transport: "tcp", OfferTimeout: bound,
		Accept: func(receive.Manifest) error {
			<-time.After(3 * bound) // longer than the bound, which is over
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "slow-yes.txt")); err != nil || string(b) != "accepted late\n" {
		t.Fatalf("landed %q, %v", b, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
