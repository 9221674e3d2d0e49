package receive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
)

// hostile is a ferry sender built to misbehave: it speaks the real
// protocol up to the stream, then sends whatever body produces.
type hostile struct {
	man  transfer.Manifest
	kind string
	// body writes the encrypted stream's content; tamper may change the
	// ciphertext on its way out.
	body   func(w io.Writer)
	tamper func(ct []byte) []byte
	sealed *transfer.Sealed    // what the offer claims of an inner OpenPGP message
	have   chan *transfer.Have // told the receiver's Have, if it sends one
}

func (h hostile) run(ctx context.Context, t *testing.T, url, code string) {
	t.Helper()
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url, AppVersions: transfer.Versions()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Close(ctx, wormhole.Happy)
		if w.Establish(ctx) != nil {
			return
		}
		ch := transfer.NewChannel(ctx, w)
		ln, err := transit.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return
		}
		defer ln.Close()
		kind := h.kind
		if kind == "" {
			kind = transfer.StreamTar
		}
		offer := transfer.FerryOffer{Manifest: h.man, Stream: kind, Transports: transfer.Transports{TCP: ln.Hints()}, Sealed: h.sealed}
		if ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Offer: &offer}}) != nil {
			return
		}
		e, err := ch.Next(ctx)
		for err == nil && e.Ferry != nil && e.Ferry.Have != nil {
			if h.have != nil {
				h.have <- e.Ferry.Have
			}
			e, err = ch.Next(ctx)
		}
		if err != nil || e.Ferry == nil || e.Ferry.Accept == nil {
			return
		}
		conn, err := transit.Connect(ctx, transit.Config{Key: w.Key("ferry/transit/v1", 32), Role: transit.Sender, Listener: ln, Peer: e.Ferry.Accept.TCP})
		if err != nil {
			return
		}
		defer conn.Close()
		key, _ := crypto.StreamKey(w.Key("ferry/stream/v1", 32), "send")
		var ct bytes.Buffer
		enc, _ := crypto.Encrypt(&ct, key)
		h.body(enc)
		enc.Close()
		out := ct.Bytes()
		if h.tamper != nil {
			out = h.tamper(out)
		}
		conn.Write(append([]byte{transfer.Chosen}, out...)) // the mark on the connection the sender picked
		conn.Close()
		ch.Next(ctx) // wait for the receiver's verdict
	}()
}

func tarOf(entries ...tarEntry) func(io.Writer) {
	return func(w io.Writer) {
		tw := tar.NewWriter(w)
		for _, e := range entries {
			tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: e.typ, Size: int64(len(e.body)), Mode: 0o644, Linkname: e.link})
			tw.Write([]byte(e.body))
		}
		tw.Close()
	}
}

type tarEntry struct {
	name, body, link string
	typ              byte
}

func one(name string, size int64) transfer.Manifest {
	return transfer.Manifest{Files: 1, Bytes: size, Entries: []transfer.Entry{{Name: name, Size: size}}}
}

// TestHostileSenders runs each misbehaving sender against the real
// receiver: each must be refused, with nothing in or beside --out.
func TestHostileSenders(t *testing.T) {
	big := strings.Repeat("x", 3*crypto.ChunkSize)
	cases := map[string]hostile{
		"dotdot name":    {man: one("../escape", 1), body: tarOf(tarEntry{name: "../escape", body: "a", typ: tar.TypeReg})},
		"absolute name":  {man: one("/tmp/abs", 1), body: tarOf(tarEntry{name: "/tmp/abs", body: "a", typ: tar.TypeReg})},
		"dotdot in tar":  {man: one("ok", 1), body: tarOf(tarEntry{name: "ok/../../escape", body: "a", typ: tar.TypeReg})},
		"symlink trick":  {man: transfer.Manifest{Files: 1, Folders: 1, Bytes: 1, Entries: []transfer.Entry{{Name: "d", Dir: true, Size: 1}}}, body: tarOf(tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d/l", link: "../../outside", typ: tar.TypeSymlink}, tarEntry{name: "d/l/x", body: "a", typ: tar.TypeReg})},
		"ansi name":      {man: one("\x1b]0;pwned\x07x", 1), body: tarOf(tarEntry{name: "\x1b]0;pwned\x07x", body: "a", typ: tar.TypeReg})},
		"size too small": {man: one("f", 1), body: tarOf(tarEntry{name: "f", body: "ab", typ: tar.TypeReg})},
		"size too large": {man: one("f", 10), body: tarOf(tarEntry{name: "f", body: "ab", typ: tar.TypeReg})},
		"raw too long":   {man: one("f", 2), kind: transfer.StreamRaw, body: func(w io.Writer) { io.WriteString(w, "abc") }},
		"tampered chunk": {man: one("f", int64(len(big))), body: tarOf(tarEntry{name: "f", body: big, typ: tar.TypeReg}),
			tamper: func(ct []byte) []byte { ct[len(ct)/2] ^= 1; return ct }},
		"truncated stream": {man: one("f", int64(len(big))), body: tarOf(tarEntry{name: "f", body: big, typ: tar.TypeReg}),
			tamper: func(ct []byte) []byte { return ct[:len(ct)-100] }},
		"trailing tag cut": {man: one("f", 1), body: tarOf(tarEntry{name: "f", body: "a", typ: tar.TypeReg}),
			tamper: func(ct []byte) []byte { return ct[:len(ct)-1] }},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			h.run(ctx, t, url, "40-evil-sender")
			_, err := receive.Run(ctx, "40-evil-sender", receive.Options{
				Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
			})
			if err == nil {
				t.Fatal("hostile sender's transfer was accepted")
			}
			t.Logf("refused: %v", err)
			nothingLanded(t, base)
		})
	}
}

// landingDirs makes base/out (the receiver's --out) and base/outside,
// where nothing may ever appear.
func landingDirs(t *testing.T) (base, out string) {
	t.Helper()
	base = t.TempDir()
	out = filepath.Join(base, "out")
	for _, d := range []string{out, filepath.Join(base, "outside")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return base, out
}

// nothingLanded fails the test if anything is in base/out, in
// base/outside, or beside them after a refused transfer.
func nothingLanded(t *testing.T, base string) {
	t.Helper()
	for _, dir := range []string{filepath.Join(base, "out"), filepath.Join(base, "outside"), base} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if dir == base && (e.Name() == "out" || e.Name() == "outside") {
				continue
			}
			t.Errorf("%s has %q after the refusal", dir, e.Name())
		}
	}
}
