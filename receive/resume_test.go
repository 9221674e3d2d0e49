package receive_test

import (
	"archive/tar"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
	"github.com/ferrydrop/ferry/send"
)

// rfile is one file of a transfer the resume tests make: its stream path
// and content.
type rfile struct {
	path string
	data []byte
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(n), byte(n >> 8), byte(n >> 16)}).Read(b)
	return b
}

func hashOf(b []byte) string {
	h := transfer.NewHash()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// manifestOf is the manifest a ferry sender offers for files under one
// top-level name (a folder when dir).
func manifestOf(top string, dir bool, files []rfile) transfer.Manifest {
	m := transfer.Manifest{Files: int64(len(files)), Entries: []transfer.Entry{{Name: top, Dir: dir}}}
	if dir {
		m.Folders = 1
	}
	for _, f := range files {
		m.Bytes += int64(len(f.data))
		m.Sums = append(m.Sums, transfer.FileSum{Path: f.path, Size: int64(len(f.data)), Hash: hashOf(f.data)})
	}
	m.Entries[0].Size = m.Bytes
	return m
}

// resumeStream is a ferry sender's tar stream of files, each with its
// hash, starting each at at[path]; with cut >= 0 it stops (cleanly
// encrypted, the tar unfinished) after cut bytes of content.
func resumeStream(top string, dir bool, files []rfile, hashes []transfer.FileSum, at map[string]int64, cut int64) func(io.Writer) {
	return func(w io.Writer) {
		tw := tar.NewWriter(w)
		if dir {
			tw.WriteHeader(&tar.Header{Name: top + "/", Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatPAX})
		}
		for i, f := range files {
			off := at[f.path]
			hdr := &tar.Header{Name: f.path, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data)) - off, Format: tar.FormatPAX,
				PAXRecords: map[string]string{transfer.PAXHash: hashes[i].Hash}}
			if off > 0 {
				hdr.PAXRecords[transfer.PAXOffset] = strconv.FormatInt(off, 10)
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

// notes collects what the receiver says it resumes and starts over.
type notes struct {
	mu       sync.Mutex
	resumed  []string
	restarts []string
}

func (n *notes) resume() receive.Resume {
	return receive.Resume{
		OnResume: func(name string, at, size int64) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.resumed = append(n.resumed, fmt.Sprintf("%s at %d of %d", name, at, size))
		},
		OnRestart: func(name, why string) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.restarts = append(n.restarts, name+": "+why)
		},
	}
}

// interrupted runs a sender that stops after cut bytes of content: the
// receiver fails and keeps what arrived.
func interrupted(t *testing.T, out, top string, dir bool, files []rfile, cut int64) {
	t.Helper()
	ctx, url := setup(t)
	man := manifestOf(top, dir, files)
	hostile{man: man, body: resumeStream(top, dir, files, man.Sums, nil, cut)}.run(ctx, t, url, "41-cut-short")
	_, err := receive.Run(ctx, "41-cut-short", receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil }})
	if err == nil {
		t.Fatal("a transfer cut short succeeded")
	}
	if _, err := os.Lstat(filepath.Join(out, top)); err == nil {
		t.Fatalf("%s has its final name after a transfer cut short", top)
	}
	if recs, _ := filepath.Glob(filepath.Join(out, ".ferry-partial-*.resume")); len(recs) != 1 {
		t.Fatalf("after a transfer cut short the output folder has resume records %q, want one", recs)
	}
}

// sendReal sends the paths with the real ferry sender into out and
// returns the receiver's result.
func sendReal(t *testing.T, out string, paths []string, n *notes, noResume bool) error {
	t.Helper()
	return sendWith(t, out, paths, n, func(*send.FileOptions, *receive.Options) {}, noResume)
}

// sendWith is sendReal with options changed by set.
func sendWith(t *testing.T, out string, paths []string, n *notes, set func(*send.FileOptions, *receive.Options), noResume bool) error {
	t.Helper()
	ctx, url := setup(t)
	errc := make(chan error, 1)
	codes := make(chan string, 1)
	so := send.FileOptions{Options: send.Options{Relay: url, OnCode: func(c string) { codes <- c }}, Transport: transfer.TransportTCP}
	ro := receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
		Transport: transfer.TransportTCP, NoResume: noResume, Resume: n.resume()}
	set(&so, &ro)
	go func() {
		_, err := send.Files(ctx, so, paths)
		errc <- err
	}()
	var code string
	select {
	case code = <-codes:
	case err := <-errc:
		t.Fatalf("sender: %v", err)
	}
	_, rerr := receive.Run(ctx, code, ro)
	serr := <-errc
	if rerr == nil && serr != nil {
		t.Fatalf("receiver succeeded, sender: %v", serr)
	}
	return rerr
}

// onlyNames fails unless dir holds exactly names.
func onlyNames(t *testing.T, dir string, names ...string) {
	t.Helper()
	var got []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("%s holds %q, want %q", dir, got, names)
	}
}

func sameContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes that differ from the %d sent", path, len(got), len(want))
	}
}

func writeSource(t *testing.T, dir string, files []rfile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const resumeSize = 3 << 20

// TestResumeFile: a transfer cut short at half leaves a partial; the next
// transfer of the same file (a new code) goes on from there, and the file
// lands whole.
func TestResumeFile(t *testing.T) {
	src, out, files := halfOfBigISO(t, 1)
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

// TestResumeFolder: a folder of 200 files cut short half way resumes
// file by file.
func TestResumeFolder(t *testing.T) {
	_, out := landingDirs(t)
	src := t.TempDir()
	var files []rfile
	for i := range 200 {
		files = append(files, rfile{fmt.Sprintf("photos/%03d.jpg", i), randomBytes(uint64(i), 16<<10)})
	}
	writeSource(t, src, files)
	cut := int64(100*16<<10 + 8<<10)
	interrupted(t, out, "photos", true, files, cut)
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "photos")}, &n, false); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("photos at %d of %d", cut, 200*16<<10); len(n.resumed) != 1 || n.resumed[0] != want {
		t.Fatalf("resumed %q, want %q", n.resumed, want)
	}
	for _, f := range files {
		sameContent(t, filepath.Join(out, filepath.FromSlash(f.path)), f.data)
	}
	onlyNames(t, out, "photos")
}

// TestResumeHostileSender: a sender that resumes with bytes that do not
// match the hash it offered gets nothing landed, the error says why, and
// the partial is discarded (the next transfer starts from zero).
func TestResumeHostileSender(t *testing.T) {
	src, out, files := halfOfBigISO(t, 2)

	ctx, url := setup(t)
	man := manifestOf("big.iso", false, files)
	evil := []rfile{{"big.iso", append([]byte{}, files[0].data...)}}
	evil[0].data[resumeSize-10] ^= 1
	haves := make(chan *transfer.Have, 1)
	hostile{man: man, have: haves, body: resumeStream("big.iso", false, evil, man.Sums, map[string]int64{"big.iso": resumeSize / 2}, -1)}.run(ctx, t, url, "42-evil-resume")
	_, err := receive.Run(ctx, "42-evil-resume", receive.Options{Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "does not match the hash the sender offered") {
		t.Fatalf("Run = %v, want a hash mismatch", err)
	}
	if h := <-haves; len(h.Files) != 1 || h.Files[0] != (transfer.Held{I: 0, At: resumeSize / 2}) {
		t.Fatalf("the receiver said it holds %+v", h)
	}
	if _, err := os.Lstat(filepath.Join(out, "big.iso")); err == nil {
		t.Fatal("big.iso has its final name after a hash mismatch")
	}
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "big.iso")}, &n, false); err != nil {
		t.Fatal(err)
	}
	if len(n.resumed) != 0 {
		t.Fatalf("resumed %q from a partial that failed its hash", n.resumed)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}

// TestResumeEditedPartial: a partial changed on disk between runs is
// detected and started over from zero, loudly.
func TestResumeEditedPartial(t *testing.T) {
	src, out, files := halfOfBigISO(t, 3)
	partial, _ := filepath.Glob(filepath.Join(out, ".ferry-partial-*", "big.iso"))
	if len(partial) != 1 {
		t.Fatalf("partials %q", partial)
	}
	f, err := os.OpenFile(partial[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{files[0].data[1000] ^ 0xff}, 1000)
	f.Close()
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "big.iso")}, &n, false); err != nil {
		t.Fatal(err)
	}
	if len(n.resumed) != 0 || len(n.restarts) != 1 || !strings.Contains(n.restarts[0], "changed on disk") {
		t.Fatalf("resumed %q, restarted %q; want one restart because the partial changed on disk", n.resumed, n.restarts)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}

// TestResumeChangedSource: a source file changed between runs starts
// over from zero; the new content lands.
func TestResumeChangedSource(t *testing.T) {
	src, out, _ := halfOfBigISO(t, 4)
	changed := []rfile{{"big.iso", randomBytes(5, resumeSize)}}
	writeSource(t, src, changed)
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "big.iso")}, &n, false); err != nil {
		t.Fatal(err)
	}
	if len(n.resumed) != 0 || len(n.restarts) != 1 || !strings.Contains(n.restarts[0], "changed on the sending side") {
		t.Fatalf("resumed %q, restarted %q; want one restart because the source changed", n.resumed, n.restarts)
	}
	sameContent(t, filepath.Join(out, "big.iso"), changed[0].data)
	onlyNames(t, out, "big.iso")
}

// TestNoResume: --no-resume discards the partial and keeps nothing.
func TestNoResume(t *testing.T) {
	src, out, files := halfOfBigISO(t, 6)
	var n notes
	if err := sendReal(t, out, []string{filepath.Join(src, "big.iso")}, &n, true); err != nil {
		t.Fatal(err)
	}
	if len(n.resumed) != 0 {
		t.Fatalf("resumed %q with NoResume", n.resumed)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}

// TestResumeSealed: a transfer sealed to the receiver's key and signed
// (ferry send --to --sign) resumes too: the hashes travel in the sealed
// list of names, and the rest of the file in the signed stream.
func TestResumeSealed(t *testing.T) {
	src, out, files := halfOfBigISO(t, 7)
	alice, bob := genKey(t, "alice"), genKey(t, "bob")
	var n notes
	var signer *crypto.Signer
	err := sendWith(t, out, []string{filepath.Join(src, "big.iso")}, &n, func(so *send.FileOptions, ro *receive.Options) {
		so.To, so.Signer = []*openpgp.Entity{public(t, bob)}, alice
		ro.Keys = func() (openpgp.EntityList, error) { return openpgp.EntityList{bob, public(t, alice)}, nil }
		ro.OnSigner = func(s *crypto.Signer) { signer = s }
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.resumed) != 1 || signer == nil {
		t.Fatalf("resumed %q, signer %v; want one resume of a signed list of names", n.resumed, signer)
	}
	sameContent(t, filepath.Join(out, "big.iso"), files[0].data)
	onlyNames(t, out, "big.iso")
}

// halfOfBigISO is the start of most resume tests: a source folder with
// big.iso (resumeSize random bytes from seed), and an output folder where
// a transfer of it was cut off at half.
func halfOfBigISO(t *testing.T, seed uint64) (src, out string, files []rfile) {
	t.Helper()
	_, out = landingDirs(t)
	src = t.TempDir()
	files = []rfile{{"big.iso", randomBytes(seed, resumeSize)}}
	writeSource(t, src, files)
	interrupted(t, out, "big.iso", false, files, resumeSize/2)
	return src, out, files
}
