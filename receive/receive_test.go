package receive_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
	"github.com/psanford/wormhole-william/rendezvous/rendezvousservertest"
)

func setup(t *testing.T) (context.Context, string) {
	t.Helper()
	ts := rendezvousservertest.NewServer()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx, ts.WebSocketURL()
}

func TestTextRoundTrip(t *testing.T) {
	ctx, url := setup(t)
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- send.Text(ctx, send.Options{Relay: url, OnCode: func(c string) { codes <- c }}, "hé\x1b[31m")
	}()
	var verifier string
	res, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Verify: func(v string) error { verifier = v; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "hé\x1b[31m" {
		t.Fatalf("text = %q", res.Text)
	}
	if len(verifier) != 64 {
		t.Fatalf("verifier %q is not 32 bytes of hex", verifier)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDeclined(t *testing.T) {
	ctx, url := setup(t)
	errc := make(chan error, 1)
	go func() { errc <- send.Text(ctx, send.Options{Relay: url, Code: "8-a-b"}, "x") }()
	no := errors.New("no")
	_, err := receive.Run(ctx, "8-a-b", receive.Options{Relay: url, Verify: func(string) error { return no }})
	if !errors.Is(err, no) {
		t.Fatalf("Run = %v, want the verify error", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("sender succeeded although the receiver declined")
	}
}

// hostileSender offers whatever it is told and returns the receiver's reply.
func hostileSender(ctx context.Context, t *testing.T, url, code string, offer transfer.Envelope) <-chan transfer.Envelope {
	t.Helper()
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	reply := make(chan transfer.Envelope, 1)
	go func() {
		defer w.Close(ctx, wormhole.Happy)
		defer close(reply)
		if w.Establish(ctx) != nil || w.SendJSON(ctx, offer) != nil {
			return
		}
		b, err := w.Receive(ctx)
		if err != nil {
			return
		}
		e, _ := transfer.ParseEnvelope(b)
		reply <- e
	}()
	return reply
}

// TestDeclinesFileOfferWithoutAccept: with no Accept, a classic file
// offer is refused and the sender told.
func TestDeclinesFileOfferWithoutAccept(t *testing.T) {
	ctx, url := setup(t)
	reply := hostileSender(ctx, t, url, "9-a-b", transfer.Envelope{Offer: &transfer.Offer{File: []byte(`{"filename":"x","filesize":1}`)}})
	_, err := receive.Run(ctx, "9-a-b", receive.Options{Relay: url})
	if !errors.Is(err, receive.ErrDeclined) {
		t.Fatalf("Run = %v, want ErrDeclined", err)
	}
	if e := <-reply; e.Error == nil {
		t.Fatalf("sender got %+v, want an error message", e)
	}
}

func TestRefusesOversizedText(t *testing.T) {
	ctx, url := setup(t)
	big := strings.Repeat("a", transfer.MaxText+1)
	reply := hostileSender(ctx, t, url, "10-a-b", transfer.Envelope{Offer: &transfer.Offer{Message: &big}})
	if _, err := receive.Run(ctx, "10-a-b", receive.Options{Relay: url}); err == nil {
		t.Fatal("accepted a text over the cap")
	}
	if e := <-reply; e.Error == nil {
		t.Fatalf("sender got %+v, want an error message", e)
	}
}

func TestSenderSeesRejection(t *testing.T) {
	ctx, url := setup(t)
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx, wormhole.Happy)
	if err := w.UseCode(ctx, "11-a-b"); err != nil {
		t.Fatal(err)
	}
	go func() {
		if w.Establish(ctx) != nil {
			return
		}
		if _, err := w.Receive(ctx); err != nil {
			return
		}
		msg := "no thanks"
		w.SendJSON(ctx, transfer.Envelope{Error: &msg})
	}()
	err = send.Text(ctx, send.Options{Relay: url, Code: "11-a-b"}, "hello")
	if !errors.Is(err, send.ErrRejected) || !strings.Contains(err.Error(), "no thanks") {
		t.Fatalf("Text = %v, want a rejection naming the reason", err)
	}
}

// savedOutput is a receive.Output that keeps everything in memory.
type savedOutput struct {
	bytes.Buffer
	committed, aborted bool
}

func (s *savedOutput) Commit() error { s.committed = true; return nil }
func (s *savedOutput) Abort(error)   { s.aborted = true }

// TestSaveToOutput: a ferry sender's folder reaches an Output (what the
// browser page uses) as one zip of its nested names, committed only at
// the end, and nothing is written to any folder.
func TestSaveToOutput(t *testing.T) {
	ctx, url := setup(t)
	src := t.TempDir()
	for name, body := range map[string]string{"d/a.txt": "alpha", "d/sub/b.bin": strings.Repeat("b", 300000)} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }}, Transport: transfer.TransportTCP},
			[]string{filepath.Join(src, "d")})
		errc <- err
	}()
	var out savedOutput
	var saved string
	cwd := t.TempDir()
	t.Chdir(cwd)
	_, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Transport: transfer.TransportTCP,
		Accept: func(receive.Manifest) error { return nil },
		Save: func(name string, size int64, isZip bool) (receive.Output, error) {
			saved = name
			return &out, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if saved != "d.zip" || !out.committed || out.aborted {
		t.Fatalf("saved as %q, committed=%v aborted=%v", saved, out.committed, out.aborted)
	}
	zr, err := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, f := range zr.File {
		got[f.Name] = int64(f.UncompressedSize64)
	}
	if got["d/a.txt"] != 5 || got["d/sub/b.bin"] != 300000 {
		t.Fatalf("zip holds %v", got)
	}
	if ents, _ := os.ReadDir(cwd); len(ents) != 0 {
		t.Fatalf("the current folder gained %v", ents)
	}
}

// TestSendFromFS: what send takes from an fs.FS (the files a user picked
// in the page) arrives like files from disk.
func TestSendFromFS(t *testing.T) {
	ctx, url := setup(t)
	picked := fstest.MapFS{
		"pick/a.txt":     {Data: []byte("alpha"), Mode: 0o644},
		"pick/sub/b.txt": {Data: []byte("beta"), Mode: 0o644},
		"c.txt":          {Data: []byte("gamma"), Mode: 0o644},
	}
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }},
			Transport: transfer.TransportTCP, FS: picked}, []string{"pick", "c.txt"})
		errc <- err
	}()
	out := t.TempDir()
	if _, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Out: out, Transport: transfer.TransportTCP,
		Accept: func(receive.Manifest) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"pick/a.txt": "alpha", "pick/sub/b.txt": "beta", "c.txt": "gamma"} {
		if got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name))); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url}, FS: picked}, []string{"../etc"}); err == nil {
		t.Error("a path outside the FS was accepted")
	}
}

// countingGCM is Go's AES-GCM, counting the chunks it opens.
type countingGCM struct {
	cipher.AEAD
	n atomic.Int64
}

func (c *countingGCM) Open(dst, nonce, ct, ad []byte) ([]byte, error) {
	c.n.Add(1)
	return c.AEAD.Open(dst, nonce, ct, ad)
}

// TestStreamOpener: Options.Stream's opener (the page's WebCrypto) opens
// every chunk of the peer stream, pipelined, and the file lands intact.
func TestStreamOpener(t *testing.T) {
	ctx, url := setup(t)
	body := make([]byte, 5<<20+3)
	rand.Read(body)
	src := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	codes := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }}, Transport: transfer.TransportTCP},
			[]string{src})
		errc <- err
	}()
	var gcm *countingGCM
	var out savedOutput
	_, err := receive.Run(ctx, <-codes, receive.Options{Relay: url, Transport: transfer.TransportTCP,
		Accept: func(receive.Manifest) error { return nil },
		Save:   func(string, int64, bool) (receive.Output, error) { return &out, nil },
		Stream: crypto.StreamOptions{Ahead: 3, NewOpener: func(key []byte) (crypto.Opener, error) {
			b, err := aes.NewCipher(key)
			if err != nil {
				return nil, err
			}
			g, err := cipher.NewGCM(b)
			gcm = &countingGCM{AEAD: g}
			return gcm, err
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !out.committed || !bytes.Equal(out.Bytes(), body) {
		t.Fatalf("committed=%v, %d bytes landed of %d", out.committed, out.Len(), len(body))
	}
	// 5 MiB and a tar header in 256 KiB chunks, and the final tag
	if gcm == nil {
		t.Fatal("the opener was never made")
	}
	if n := gcm.n.Load(); n < 21 {
		t.Fatalf("the opener opened %d chunks, want at least 21", n)
	}
}
