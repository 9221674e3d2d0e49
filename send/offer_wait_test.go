package send_test

import (
	"bufio"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/relay"
	"github.com/ferrydrop/ferry/send"
)

// envHeldSender makes the test binary, run as a child by
// TestReceiverGivesUpOnFerrySenderKilledBeforeOffer, a ferry sender that
// stops just before its offer: RELAY-URL CODE FILE, separated by spaces.
const envHeldSender = "FERRY_TEST_HELD_SENDER"

// heldAt is what the held sender prints when it reached its offer.
const heldAt = "held before the offer"

// TestHelperSenderHeldBeforeOffer is the child process of
// TestReceiverGivesUpOnFerrySenderKilledBeforeOffer (skipped otherwise):
// a ferry sender that meets the receiver, says so on stdout just before
// its offer would go out, and waits there until it is killed.
func TestHelperSenderHeldBeforeOffer(t *testing.T) {
	args := strings.Fields(os.Getenv(envHeldSender))
	if len(args) != 3 {
		t.Skip("only run as a child of TestReceiverGivesUpOnFerrySenderKilledBeforeOffer")
	}
	opts := send.FileOptions{Options: send.Options{Relay: args[0], Code: args[1]}, Transport: "tcp"}
	send.WithOfferGate(&opts, func(ctx context.Context) error {
		os.Stdout.WriteString(heldAt + "\n")
		<-ctx.Done() // the parent kills this process first
		return ctx.Err()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := send.Files(ctx, opts, []string{args[2]}); err != nil {
		t.Fatal(err)
	}
}

// offerRelay is a mailbox relay on loopback; its URL.
func offerRelay(t *testing.T) string {
	t.Helper()
	rs, err := relay.New(relay.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rs)
	t.Cleanup(func() { rs.Close(); ts.Close() })
	return "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
}

// checkNoOffer checks that err says the sender stopped before offering,
// and how long the receiver waited.
func checkNoOffer(t *testing.T, err error, bound time.Duration) {
	t.Helper()
	if !errors.Is(err, receive.ErrNoOffer) {
		t.Fatalf("receive = %v, want ErrNoOffer", err)
	}
	if want := "(nothing arrived for " + bound.String() + ")"; !strings.Contains(err.Error(), want) {
		t.Fatalf("receive = %q, want it to say %q", err, want)
	}
}

// TestReceiverGivesUpOnFerrySenderKilledBeforeOffer: a ferry sender (a
// child process) meets the receiver and is killed (SIGKILL) just before
// its offer. The relay tells the receiver nothing; it must give up after
// its OfferTimeout instead of waiting for ever.
func TestReceiverGivesUpOnFerrySenderKilledBeforeOffer(t *testing.T) {
	url := offerRelay(t)
	file := filepath.Join(t.TempDir(), "never.txt")
	if err := os.WriteFile(file, []byte("never offered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const code = "41-held-sender"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperSenderHeldBeforeOffer$", "-test.count=1")
	child.Env = append(os.Environ(), envHeldSender+"="+url+" "+code+" "+file)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == heldAt {
				held <- nil
				return
			}
		}
		held <- errors.New("the sender's output ended before it reached its offer")
	}()
	killed := time.Time{}
	const bound = 2 * time.Second
	_, err = receive.Run(ctx, code, receive.Options{Relay: url, Accept: func(receive.Manifest) error { return nil }, Out: t.TempDir(),
		OfferTimeout: bound,
		// Called once the versions are exchanged: the sides met. The
		// sender dies before the receiver goes on to wait for its offer.
		Verify: func(string) error {
			if err := <-held; err != nil {
				return err
			}
			if err := child.Process.Kill(); err != nil {
				return err
			}
			_ = child.Wait()
			killed = time.Now()
			return nil
		}})
	checkNoOffer(t, err, bound)
	if killed.IsZero() {
		t.Fatal("the sender was never killed")
	}
	if waited := time.Since(killed); waited < bound {
		t.Fatalf("the receiver gave up %v after the sender died, before its bound of %v", waited, bound)
	}
}

// TestReceiverGivesUpOnFerrySenderHeldBeforeOffer: a ferry sender that is
// alive but sends nothing after the versions is given up on after the
// bound too, and is told why (it then sees its offer refused).
func TestReceiverGivesUpOnFerrySenderHeldBeforeOffer(t *testing.T) {
	url := offerRelay(t)
	file := filepath.Join(t.TempDir(), "late.txt")
	if err := os.WriteFile(file, []byte("offered too late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const code = "42-held-sender"
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	gaveUp := make(chan struct{})
	opts := send.FileOptions{Options: send.Options{Relay: url, Code: code}, Transport: "tcp"}
	send.WithOfferGate(&opts, func(ctx context.Context) error {
		select {
		case <-gaveUp: // offer only once the receiver stopped waiting
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	sent := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, opts, []string{file})
		sent <- err
	}()
	const bound = time.Second
	_, err := receive.Run(ctx, code, receive.Options{Relay: url, Accept: func(receive.Manifest) error { return nil },
		Out: t.TempDir(), OfferTimeout: bound})
	close(gaveUp)
	checkNoOffer(t, err, bound)
	err = <-sent
	if err == nil || !strings.Contains(err.Error(), "the receiver stopped waiting for an offer") {
		t.Fatalf("send = %v, want the receiver's reason", err)
	}
}
