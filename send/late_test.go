package send_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// gate holds a sender's hashing back until it is opened (or fails with
// err).
type gate struct {
	open chan struct{}
	err  error
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) wait(ctx context.Context) error {
	select {
	case <-g.open:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lateFile is a source folder holding name with n random bytes.
func lateFile(t *testing.T, name string, n int, seed uint64) (path string, data []byte) {
	t.Helper()
	data = make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(data)
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// receiving runs a real receiver of code into out in the background.
func receiving(ctx context.Context, url, code string, ro receive.Options) <-chan error {
	ro.Relay, ro.Transport = url, transfer.TransportTCP
	if ro.Accept == nil {
		ro.Accept = func(transfer.Manifest) error { return nil }
	}
	errc := make(chan error, 1)
	go func() {
		_, err := receive.Run(ctx, code, ro)
		errc <- err
	}()
	return errc
}

// sending runs the real sender of path with code, its hashing held by g.
func sending(ctx context.Context, url, code, path string, g *gate, set func(*send.FileOptions)) <-chan error {
	so := send.FileOptions{Options: send.Options{Relay: url, Code: code}, Transport: transfer.TransportTCP}
	send.WithHashGate(&so, g.wait)
	if set != nil {
		set(&so)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, so, []string{path})
		errc <- err
	}()
	return errc
}

// whole is told once the receiver has read all of total bytes.
func whole(total int64) (progress func(n, _ int64), done <-chan struct{}) {
	c := make(chan struct{})
	var once sync.Once
	return func(n, _ int64) {
		if n >= total {
			once.Do(func() { close(c) })
		}
	}, c
}

// TestHashesMidStream: hashes that come while the stream runs are taken
// on the way (into the record, too), sealed (--to --sign) or not.
func TestHashesMidStream(t *testing.T) {
	alice, bob := genKey(t, "alice"), genKey(t, "bob")
	for i, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			ctx, url := setup(t)
			src, data := lateFile(t, "big.iso", 8<<20, 5)
			out := t.TempDir()
			code := fmt.Sprintf("%d-late-mid-stream", 68+i)
			g := newGate()
			var once sync.Once
			ro := receive.Options{Out: out, Progress: func(int64, int64) { once.Do(func() { close(g.open) }) }}
			var set func(*send.FileOptions)
			if sealed {
				set = func(so *send.FileOptions) { so.To, so.Signer = []*openpgp.Entity{public(t, bob)}, alice }
				ro.Keys = func() (openpgp.EntityList, error) { return openpgp.EntityList{bob, public(t, alice)}, nil }
			}
			serr := sending(ctx, url, code, src, g, set)
			if err := <-receiving(ctx, url, code, ro); err != nil {
				t.Fatal(err)
			}
			if err := <-serr; err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(out, "big.iso"))
			if !bytes.Equal(got, data) {
				t.Fatalf("big.iso: %d bytes that differ from the %d sent", len(got), len(data))
			}
		})
	}
}

// TestFirstBytesBeforeHashes: the offer does not wait for the hashes. A
// sender whose hashing is held back still gets every byte to the
// receiver, which gives the file its final name only once the hashes
// came; sealed (--to --sign) as well as plain.
func TestFirstBytesBeforeHashes(t *testing.T) {
	alice, bob := genKey(t, "alice"), genKey(t, "bob")
	for i, sealed := range []bool{false, true} {
		t.Run(fmt.Sprint("sealed=", sealed), func(t *testing.T) {
			ctx, url := setup(t)
			src, data := lateFile(t, "big.iso", 4<<20, 1)
			out := t.TempDir()
			code := fmt.Sprintf("%d-late-first-bytes", 62+i)
			g := newGate()
			defer close(g.open)
			progress, arrived := whole(int64(len(data)))
			ro := receive.Options{Out: out, Progress: progress}
			var set func(*send.FileOptions)
			if sealed {
				set = func(so *send.FileOptions) { so.To, so.Signer = []*openpgp.Entity{public(t, bob)}, alice }
				ro.Keys = func() (openpgp.EntityList, error) { return openpgp.EntityList{bob, public(t, alice)}, nil }
			}
			serr := sending(ctx, url, code, src, g, set)
			rerr := receiving(ctx, url, code, ro)
			select {
			case <-arrived:
			case err := <-rerr:
				t.Fatalf("the receiver ended before the hashes were let through: %v", err)
			case err := <-serr:
				t.Fatalf("the sender ended before its hashes were let through: %v", err)
			case <-ctx.Done():
				t.Fatal("the file did not arrive while the sender's hashing was held back")
			}
			// Every byte is in, and the hashes cannot have been made.
			if _, err := os.Lstat(filepath.Join(out, "big.iso")); err == nil {
				t.Fatal("big.iso has its final name before the hashes came")
			}
			g.open <- struct{}{}
			if err := <-rerr; err != nil {
				t.Fatal(err)
			}
			if err := <-serr; err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(out, "big.iso"))
			if !bytes.Equal(got, data) {
				t.Fatalf("big.iso: %d bytes that differ from the %d sent", len(got), len(data))
			}
		})
	}
}

// TestHashingFailsLate: when the hashing fails after the offer went out
// (a file that cannot be read again), the sender ends with that error,
// the receiver with the sender's word that it failed, and nothing gets
// its final name.
func TestHashingFailsLate(t *testing.T) {
	ctx, url := setup(t)
	src, data := lateFile(t, "big.iso", 2<<20, 2)
	out := t.TempDir()
	g := &gate{open: make(chan struct{}), err: errors.New("read big.iso: input/output error")}
	progress, arrived := whole(int64(len(data)))
	serr := sending(ctx, url, "64-late-hash-fails", src, g, nil)
	rerr := receiving(ctx, url, "64-late-hash-fails", receive.Options{Out: out, Progress: progress})
	select {
	case <-arrived:
	case <-ctx.Done():
		t.Fatal("the file did not arrive")
	}
	close(g.open)
	if err := <-serr; err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("sender: %v, want the hashing's error", err)
	}
	// the sender says it failed (not why: that names its files)
	if err := <-rerr; err == nil || !strings.Contains(err.Error(), "the sender stopped") {
		t.Fatalf("receiver: %v, want the sender's error", err)
	}
	// what arrived is kept as a partial (its record names no hash), as
	// after a crash; nothing has a name of its own
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".ferry-partial-") {
			t.Fatalf("%s holds %v after the transfer failed", out, entries)
		}
	}
}

// TestResumeAfterLateHashes: a first run whose hashes came late, and that
// failed at the end (its name appeared in the folder meanwhile), keeps
// the file as a partial that names its hash; a second run resumes it,
// though its hashes come late too: the receiver waits for them before it
// says what it holds, and the sender goes on from there.
func TestResumeAfterLateHashes(t *testing.T) {
	src, data := lateFile(t, "big.iso", 3<<20, 3)
	out := t.TempDir()
	inTheWay := filepath.Join(out, "big.iso")

	ctx, url := setup(t)
	g := newGate()
	var once sync.Once
	ro := receive.Options{Out: out,
		Accept:   func(transfer.Manifest) error { close(g.open); return nil },
		Progress: func(int64, int64) { once.Do(func() { os.WriteFile(inTheWay, []byte("mine"), 0o644) }) }}
	serr := sending(ctx, url, "65-late-first-run", src, g, nil)
	if err := <-receiving(ctx, url, "65-late-first-run", ro); !errors.Is(err, receive.ErrExists) {
		t.Fatalf("first run: %v, want the name that appeared meanwhile", err)
	}
	<-serr
	if err := os.Remove(inTheWay); err != nil {
		t.Fatal(err)
	}

	ctx, url = setup(t)
	g = newGate()
	var resumed []string
	ro = receive.Options{Out: out,
		Accept: func(transfer.Manifest) error { close(g.open); return nil },
		Resume: receive.Resume{OnResume: func(name string, at, size int64) {
			resumed = append(resumed, fmt.Sprintf("%s at %d of %d", name, at, size))
		},
			OnRestart: func(name, why string) { t.Errorf("%s starts over: %s", name, why) }}}
	serr = sending(ctx, url, "66-late-second-run", src, g, nil)
	if err := <-receiving(ctx, url, "66-late-second-run", ro); err != nil {
		t.Fatal(err)
	}
	if err := <-serr; err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("big.iso at %d of %d", len(data), len(data)); len(resumed) != 1 || resumed[0] != want {
		t.Fatalf("resumed %q, want %q", resumed, want)
	}
	got, _ := os.ReadFile(filepath.Join(out, "big.iso"))
	if !bytes.Equal(got, data) {
		t.Fatalf("big.iso: %d bytes that differ from the %d sent", len(got), len(data))
	}
	if entries, _ := os.ReadDir(out); len(entries) != 1 {
		t.Fatalf("%s holds %v, want big.iso alone", out, entries)
	}
}

func genKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := crypto.GenerateKey(name, name+"@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// public is e without its secret keys, as someone else's keyring holds it.
func public(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

// TestClassicNeverWaitsForHashes: a classic receiver has no resume, so a
// transfer to one never waits for the hashes (held back here for good).
func TestClassicNeverWaitsForHashes(t *testing.T) {
	ctx, url := setup(t)
	src, data := lateFile(t, "report.bin", 1<<20, 6)
	got := classicReceiver{ack: honestAck}.run(ctx, t, url, "31-classic-no-hashes")
	g := newGate() // never opened
	if err := <-sending(ctx, url, "31-classic-no-hashes", src, g, nil); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !bytes.Equal(r.content, data) {
		t.Fatalf("the classic receiver got %d bytes that differ from the %d sent", len(r.content), len(data))
	}
}
