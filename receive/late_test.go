package receive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
)

// When the late sums go out, relative to the rest.
const (
	sumsAfterStream   = iota // once the whole stream is out
	sumsBeforeStream         // on the data path's opening, before any byte (waits for arrived)
	sumsAfterAccepted        // right after the offer, once the test says so (accepted)
	sumsNever
)

// lateSender is a ferry sender whose offer says its sums follow
// (Manifest.SumsLater); sums makes the message it sends for them, given
// the offer's binding (transfer.SumsBinding).
type lateSender struct {
	man      transfer.Manifest // SumsLater is set by run
	stream   func(io.Writer)   // the stream's content (inside the sealed message, if seal)
	seal     func([]byte) []byte
	sealed   *transfer.Sealed
	sums     func(binding string) *transfer.LateSums
	when     int
	arrived  <-chan struct{} // sumsBeforeStream: the receiver took the sums
	accepted <-chan struct{} // sumsAfterAccepted: when to send them
	have     chan *transfer.Have
}

func (h lateSender) run(ctx context.Context, t *testing.T, url, code string) {
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
		man := h.man
		man.SumsLater, man.Sums = true, nil
		offer := transfer.FerryOffer{Manifest: man, Stream: transfer.StreamTar, Transports: transfer.Transports{TCP: ln.Hints()}, Sealed: h.sealed}
		if ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Offer: &offer}}) != nil {
			return
		}
		sendSums := func() {
			if h.sums != nil {
				ch.Send(ctx, transfer.Envelope{Ferry: &transfer.Ferry{Sums: h.sums(transfer.SumsBinding(w, man))}})
			}
		}
		if h.when == sumsAfterAccepted {
			<-h.accepted
			sendSums()
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
		conn.Write([]byte{transfer.Chosen}) // the mark on the connection the sender picked
		if h.when == sumsBeforeStream {
			sendSums()
			select {
			case <-h.arrived:
			case <-ctx.Done():
				return
			}
		}
		key, _ := crypto.StreamKey(w.Key("ferry/stream/v1", 32), "send")
		var pt, ct bytes.Buffer
		h.stream(&pt)
		plain := pt.Bytes()
		if h.seal != nil {
			plain = h.seal(plain)
		}
		enc, _ := crypto.Encrypt(&ct, key)
		enc.Write(plain)
		enc.Close()
		conn.Write(ct.Bytes())
		if h.when == sumsAfterStream {
			sendSums()
		}
		transfer.ReadDone(conn, w.Key("ferry/stream/v1", 32)) // the receiver's confirmation, if it comes
		conn.Close()
		ch.Next(ctx) // wait for the receiver's verdict
	}()
}

// lateStream is the tar stream a ferry sender writes before it knows the
// hashes: no PAXHash records; a file the receiver holds part of (at)
// starts at that offset; with cut >= 0 it stops after cut bytes of
// content, the tar unfinished.
func lateStream(files []rfile, at map[string]int64, cut int64) func(io.Writer) {
	return func(w io.Writer) {
		tw := tar.NewWriter(w)
		for _, f := range files {
			off := at[f.path]
			hdr := &tar.Header{Name: f.path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data)) - off, Format: tar.FormatPAX}
			if off > 0 {
				hdr.PAXRecords = map[string]string{transfer.PAXOffset: strconv.FormatInt(off, 10)}
			}
			tw.WriteHeader(hdr)
			body := f.data[off:]
			if cut >= 0 && int64(len(body)) > cut {
				tw.Write(body[:cut])
				return
			}
			tw.Write(body)
			cut -= int64(len(body))
		}
		tw.Close()
	}
}

// clearSums is the unsealed message for sums.
func clearSums(sums []transfer.FileSum) func(string) *transfer.LateSums {
	return func(binding string) *transfer.LateSums { return &transfer.LateSums{Offer: binding, Sums: sums} }
}

func noFinalName(t *testing.T, out, name string) {
	t.Helper()
	if _, err := os.Lstat(filepath.Join(out, name)); err == nil {
		t.Fatalf("%s has its final name", name)
	}
}

// TestLateSumsNeverCome: a sender whose offer says its sums follow, and
// that never sends them, gets nothing landed; the receiver says why once
// its wait for them ends. What arrived is kept as after a crash (a
// partial whose record names no hash: see TestCrashBeforeSums for the
// next run): a sender killed while it was still hashing would otherwise
// make the next run send everything again.
func TestLateSumsNeverCome(t *testing.T) {
	base, out := landingDirs(t)
	ctx, url := setup(t)
	files := []rfile{{"big.iso", randomBytes(20, 1<<20)}}
	lateSender{man: manifestOf("big.iso", false, files), stream: lateStream(files, nil, -1), when: sumsNever}.run(ctx, t, url, "43-no-sums")
	_, err := receive.Run(ctx, "43-no-sums", receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil }, SumsTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "file hashes did not arrive within 1s of the end of the stream") {
		t.Fatalf("Run = %v, want the sums' wait to end", err)
	}
	noFinalName(t, out, "big.iso")
	if entries, _ := os.ReadDir(filepath.Join(base, "outside")); len(entries) > 0 {
		t.Errorf("outside holds %v after the failure", entries)
	}
	staged, _ := filepath.Glob(filepath.Join(out, ".ferry-partial-*.resume"))
	if len(staged) != 1 {
		t.Fatalf("the partial is not kept for the next run: records %q", staged)
	}
	b, _ := os.ReadFile(staged[0])
	var rec struct {
		Files []struct {
			Path string `json:"path"`
			Hash string `json:"blake3"`
			Have int64  `json:"have"`
		} `json:"files"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || len(rec.Files) != 1 || rec.Files[0].Path != "big.iso" || rec.Files[0].Hash != "" || rec.Files[0].Have <= 0 {
		t.Fatalf("the record of a partial whose sums never came: %s (%v)", b, err)
	}
}

// TestLateSumsRefused: sums that follow the offer and do not fit what
// the stream carried, or do not fit the offer, or belong to another
// offer, land nothing, whether they come before or after the stream.
func TestLateSumsRefused(t *testing.T) {
	files := []rfile{{"big.iso", randomBytes(21, 1<<20)}}
	man := manifestOf("big.iso", false, files)
	wrong := append([]transfer.FileSum{}, man.Sums...)
	wrong[0].Hash = hashOf([]byte("other bytes"))
	otherPath := []transfer.FileSum{{Path: "other.iso", Size: man.Sums[0].Size, Hash: man.Sums[0].Hash}}
	cases := []struct {
		name string
		sums func(string) *transfer.LateSums
		when int
		want string
	}{
		{"wrong hash after the stream", clearSums(wrong), sumsAfterStream, "does not match the hash the sender offered"},
		{"wrong hash before the stream", clearSums(wrong), sumsBeforeStream, "does not match the hash the sender offered"},
		{"another file", clearSums(otherPath), sumsAfterStream, "do not fit its offer"},
		{"another offer", func(string) *transfer.LateSums {
			return &transfer.LateSums{Offer: strings.Repeat("00", 32), Sums: man.Sums}
		}, sumsBeforeStream, "belong to another offer"},
		{"sealed in a transfer that is not", func(b string) *transfer.LateSums {
			return &transfer.LateSums{Sealed: []byte("x")}
		}, sumsAfterStream, "sealed its file hashes in a transfer that is not sealed"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, out := landingDirs(t)
			ctx, url := setup(t)
			code := fmt.Sprintf("%d-late-refused", 50+i)
			arrived := make(chan struct{})
			lateSender{man: man, stream: lateStream(files, nil, -1), sums: c.sums, when: c.when, arrived: arrived}.run(ctx, t, url, code)
			_, err := receive.Run(ctx, code, receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
				Resume: receive.Resume{OnSums: func() { close(arrived) }}})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want %q", err, c.want)
			}
			nothingLanded(t, base)
		})
	}
}

// TestLateSumsHonest: the same sender with the right sums lands the
// file, whenever they come.
func TestLateSumsHonest(t *testing.T) {
	files := []rfile{{"big.iso", randomBytes(22, 1<<20)}}
	man := manifestOf("big.iso", false, files)
	for i, when := range []int{sumsAfterStream, sumsBeforeStream} {
		_, out := landingDirs(t)
		ctx, url := setup(t)
		code := fmt.Sprintf("%d-late-honest", 60+i)
		arrived := make(chan struct{})
		lateSender{man: man, stream: lateStream(files, nil, -1), sums: clearSums(man.Sums), when: when, arrived: arrived}.run(ctx, t, url, code)
		if _, err := receive.Run(ctx, code, receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
			Resume: receive.Resume{OnSums: func() { close(arrived) }}}); err != nil {
			t.Fatal(err)
		}
		sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
		onlyNames(t, out, "big.iso")
	}
}

// TestLateSumsSigned: with --sign, the sums that follow the offer are
// signed like the stream and name the offer: tampered with, signed by
// someone else, unsigned or for another offer, they are refused and
// nothing lands; signed by the sender, the file lands.
func TestLateSumsSigned(t *testing.T) {
	alice, mallory := genKey(t, "alice"), genKey(t, "mallory")
	files := []rfile{{"f", []byte(content)}}
	man := manifestOf("f", false, files)
	signed := func(signer *openpgp.Entity, binding func(string) string, flip bool) func(string) *transfer.LateSums {
		return func(b string) *transfer.LateSums {
			plain, _ := json.Marshal(transfer.LateSums{Offer: binding(b), Sums: man.Sums})
			sealed := sealedBytes(t, plain, nil, signer)
			if flip {
				sealed[len(sealed)/2] ^= 0x10
			}
			return &transfer.LateSums{Sealed: sealed}
		}
	}
	same := func(b string) string { return b }
	other := func(string) string { return strings.Repeat("11", 32) }
	cases := []struct {
		name string
		sums func(string) *transfer.LateSums
		want string // "" lands
	}{
		{"signed by the sender", signed(alice, same, false), ""},
		{"tampered", signed(alice, same, true), "open the sealed file hashes: bad signature"},
		{"signed by another key", signed(mallory, same, false), "open the sealed file hashes: signed by an unknown key"},
		{"unsigned", clearSums(man.Sums), "came unsealed in a sealed transfer"},
		{"for another offer", signed(alice, other, false), "belong to another offer"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, out := landingDirs(t)
			ctx, url := setup(t)
			code := fmt.Sprintf("%d-late-signed", 70+i)
			lateSender{man: man, stream: lateStream(files, nil, -1), seal: func(p []byte) []byte { return sealedBytes(t, p, nil, alice) },
				sealed: &transfer.Sealed{Signed: true}, sums: c.sums, when: sumsAfterStream}.run(ctx, t, url, code)
			var signer *crypto.Signer
			res, err := receive.Run(ctx, code, receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
				Keys: func() (openpgp.EntityList, error) { return openpgp.EntityList{public(t, alice)}, nil }})
			if res != nil {
				signer = res.Signer
			}
			if c.want == "" {
				if err != nil || signer == nil {
					t.Fatalf("Run = %v, signer %v; want the file, signed", err, signer)
				}
				sameContent(t, filepath.Join(out, "f"), files[0].data)
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run = %v, want %q", err, c.want)
			}
			nothingLanded(t, base)
		})
	}
}

// TestLateSumsResumeLater: a transfer whose sums came late and that was
// cut short at half keeps a partial that names the hash; the next
// transfer of the same file (the real sender, a new code) resumes it.
func TestLateSumsResumeLater(t *testing.T) {
	_, out := landingDirs(t)
	src := t.TempDir()
	files := []rfile{{"big.iso", randomBytes(23, resumeSize)}}
	writeSource(t, src, files)
	man := manifestOf("big.iso", false, files)
	ctx, url := setup(t)
	arrived := make(chan struct{})
	lateSender{man: man, stream: lateStream(files, nil, resumeSize/2), sums: clearSums(man.Sums), when: sumsBeforeStream, arrived: arrived}.run(ctx, t, url, "44-late-cut")
	_, err := receive.Run(ctx, "44-late-cut", receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
		Resume: receive.Resume{OnSums: func() { close(arrived) }}})
	if err == nil {
		t.Fatal("a transfer cut short succeeded")
	}
	noFinalName(t, out, "big.iso")
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "big.iso")}, &n, false); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("big.iso at %d of %d", resumeSize/2, resumeSize); len(n.resumed) != 1 || n.resumed[0] != want || len(n.restarts) != 0 {
		t.Fatalf("resumed %q, restarted %q; want %q and nothing restarted", n.resumed, n.restarts, want)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}

// TestLateSumsBeforeHave: with a partial in the folder that could match,
// the receiver waits for sums that follow the offer before it answers
// with what it holds; the sender goes on from there.
func TestLateSumsBeforeHave(t *testing.T) {
	_, out, files := halfOfBigISO(t, 24)
	man := manifestOf("big.iso", false, files)
	ctx, url := setup(t)
	accepted := make(chan struct{})
	haves := make(chan *transfer.Have, 1)
	half := map[string]int64{"big.iso": resumeSize / 2}
	lateSender{man: man, stream: lateStream(files, half, -1), sums: clearSums(man.Sums), when: sumsAfterAccepted, accepted: accepted, have: haves}.run(ctx, t, url, "45-late-have")
	var n notes
	_, err := receive.Run(ctx, "45-late-have", receive.Options{Relay: url, Out: out, Resume: n.resume(),
		Accept: func(transfer.Manifest) error { close(accepted); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if h := <-haves; len(h.Files) != 1 || h.Files[0] != (transfer.Held{I: 0, At: resumeSize / 2}) {
		t.Fatalf("the receiver said it holds %+v", h)
	}
	if want := fmt.Sprintf("big.iso at %d of %d", resumeSize/2, resumeSize); len(n.resumed) != 1 || n.resumed[0] != want {
		t.Fatalf("resumed %q, want %q", n.resumed, want)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}
