package send_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/send"
	"github.com/psanford/wormhole-william/rendezvous/rendezvousservertest"
)

// classicReceiver plays a classic Magic Wormhole receiver over the real
// mailbox protocol: it accepts the offer, reads the content over transit
// and answers with ack (given the content's real SHA-256 in hex). It
// returns the offer and the content it got.
type classicReceiver struct {
	ack func(sum string) []byte
	// gone, when positive, makes it go away (close its transit
	// connection, as the kernel does for a killed program) once that
	// many bytes of content arrived; -1 once all of them arrived, before
	// its answer.
	gone int64
}

type received struct {
	offer   transfer.Offer
	content []byte
}

func (r classicReceiver) run(ctx context.Context, t *testing.T, url, code string) <-chan received {
	t.Helper()
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	got := make(chan received, 1)
	go func() {
		defer close(got)
		defer w.Close(ctx, wormhole.Happy)
		if w.Establish(ctx) != nil {
			return
		}
		var peer json.RawMessage
		var offer *transfer.Offer
		for offer == nil {
			b, err := w.Receive(ctx)
			if err != nil {
				return
			}
			e, _ := transfer.ParseEnvelope(b)
			if e.Transit != nil {
				peer = e.Transit
			}
			offer = e.Offer
		}
		var size int64
		if offer.File != nil {
			var f classic.FileOffer
			json.Unmarshal(offer.File, &f)
			size = f.Filesize
		} else {
			var d classic.DirectoryOffer
			json.Unmarshal(offer.Directory, &d)
			size = d.Zipsize
		}
		ln, err := transit.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return
		}
		defer ln.Close()
		hints := classic.Transit{}
		for _, h := range ln.Hints() {
			hints.Hints = append(hints.Hints, classic.Hint{Type: classic.DirectTCP, Hostname: h.Hostname, Port: h.Port})
		}
		raw, _ := json.Marshal(hints)
		if w.SendJSON(ctx, transfer.Envelope{Transit: raw}) != nil || w.SendJSON(ctx, transfer.Envelope{Answer: &transfer.Answer{FileAck: "ok"}}) != nil {
			return
		}
		direct, _, _ := classic.ParseTransit(peer)
		key := w.Key(classic.TransitKeyPurpose, 32)
		conn, err := transit.Connect(ctx, transit.Config{Key: key, Role: transit.Receiver, Listener: ln, Peer: direct})
		if err != nil {
			return
		}
		defer conn.Close()
		mine, theirs := classic.RecordKeys(key, false)
		if r.gone > 0 {
			size = r.gone
		}
		content, err := io.ReadAll(io.LimitReader(classic.NewReader(classic.NewRecordReader(conn, theirs), size), size))
		if err != nil || r.gone != 0 {
			return
		}
		sum := sha256.Sum256(content)
		classic.NewRecordWriter(conn, mine).WriteRecord(r.ack(hex.EncodeToString(sum[:])))
		got <- received{offer: *offer, content: content}
		io.Copy(io.Discard, conn) // until the sender hangs up
	}()
	return got
}

func honestAck(sum string) []byte {
	b, _ := json.Marshal(classic.Ack{Ack: "ok", SHA256: sum})
	return b
}

func setup(t *testing.T) (context.Context, string) {
	t.Helper()
	ts := rendezvousservertest.NewServer()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx, ts.WebSocketURL()
}

func TestClassicFileAndFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "report.txt")
	body := strings.Repeat("quarterly numbers\n", 10000)
	os.WriteFile(file, []byte(body), 0o644)
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(tree, "a.txt"), []byte("a"), 0o644)

	ctx, url := setup(t)
	got := classicReceiver{ack: honestAck}.run(ctx, t, url, "30-classic-file")
	sum, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "30-classic-file"}, Transport: "tcp"}, []string{file})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Path != "classic transit (direct tcp)" {
		t.Fatalf("path %q", sum.Path)
	}
	r := <-got
	if string(r.content) != body || !bytes.Contains(r.offer.File, []byte(`"filename":"report.txt"`)) {
		t.Fatalf("receiver got offer %s and %d bytes", r.offer.File, len(r.content))
	}

	ctx, url = setup(t)
	got = classicReceiver{ack: honestAck}.run(ctx, t, url, "31-classic-folder")
	if _, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "31-classic-folder"}}, []string{tree}); err != nil {
		t.Fatal(err)
	}
	r = <-got
	var d classic.DirectoryOffer
	json.Unmarshal(r.offer.Directory, &d)
	if d.Mode != classic.ZipMode || d.Dirname != "tree" || d.Numfiles != 2 || d.Numbytes != 11 || d.Zipsize != int64(len(r.content)) {
		t.Fatalf("folder offer %+v, %d bytes of zip", d, len(r.content))
	}
	zr, err := zip.NewReader(bytes.NewReader(r.content), int64(len(r.content)))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]os.FileMode{}
	for _, f := range zr.File {
		names[f.Name] = f.Mode()
		if f.Method != zip.Store {
			t.Errorf("%s is not stored (method %d)", f.Name, f.Method)
		}
	}
	if len(names) != 2 || names["sub/run.sh"].Perm() != 0o755 || names["a.txt"].Perm() != 0o644 {
		t.Fatalf("zip holds %v", names)
	}
}

// TestClassicBadAck: the sender fails unless the receiver's last record
// confirms the content it sent.
func TestClassicBadAck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("content"), 0o644)
	for name, ack := range map[string]func(string) []byte{
		"wrong sha256": func(string) []byte { return honestAck(strings.Repeat("00", 32)) },
		"not hex":      func(string) []byte { return honestAck("zz") },
		"not ok":       func(sum string) []byte { b, _ := json.Marshal(classic.Ack{Ack: "no", SHA256: sum}); return b },
		"not json":     func(string) []byte { return []byte("ok") },
		"huge record":  func(string) []byte { return make([]byte, 1<<20) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			classicReceiver{ack: ack}.run(ctx, t, url, "32-bad-ack")
			_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "32-bad-ack"}, Transport: "tcp"}, []string{file})
			if err == nil {
				t.Fatal("the sender succeeded without a valid confirmation")
			}
			if errors.Is(err, send.ErrConnectionLost) {
				t.Fatalf("%v: a bad answer on a sound path taken for a receiver that went away", err)
			}
			t.Log(err)
		})
	}
}

// TestClassicReceiverGone: a classic receiver that goes away (its
// connection closed, as for a killed program) mid-transfer, or after the
// content but before its answer, fails the send with ErrConnectionLost,
// in words, not what the path said ("write: broken pipe", "EOF").
func TestClassicReceiverGone(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big")
	os.WriteFile(file, bytes.Repeat([]byte("x"), 16<<20), 0o644)
	for name, gone := range map[string]int64{"mid-transfer": 1 << 20, "before its answer": -1} {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			classicReceiver{ack: honestAck, gone: gone}.run(ctx, t, url, "36-gone")
			_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "36-gone"}, Transport: "tcp"}, []string{file})
			if !errors.Is(err, send.ErrConnectionLost) {
				t.Fatalf("send: %v; want ErrConnectionLost", err)
			}
			t.Log(err)
		})
	}
}

// TestClassicRefusals: what a classic receiver cannot take is refused
// before any content moves, and the receiver is told.
func TestClassicRefusals(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	os.WriteFile(a, []byte("a"), 0o644)
	ctx, url := setup(t)
	classicReceiver{ack: honestAck}.run(ctx, t, url, "34-ice")
	_, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "34-ice"}, Transport: transfer.TransportICE}, []string{a})
	if err == nil || !strings.Contains(err.Error(), "cannot use --transport ice") {
		t.Fatalf("ice: %v", err)
	}
}

// TestClassicSeveral: several files and folders go to a classic receiver,
// which takes one file or one folder, as one folder, "ferry-files": a zip
// holding each under its own name (a file as itself, a folder with what
// is in it, an empty folder as an entry).
func TestClassicSeveral(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "b c.bin")
	os.WriteFile(a, []byte("alpha"), 0o644)
	os.WriteFile(b, bytes.Repeat([]byte{7}, 100000), 0o600)
	tree, empty := filepath.Join(dir, "tree"), filepath.Join(dir, "empty")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.Mkdir(empty, 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "run.sh"), []byte("#!/bin/sh\n"), 0o755)

	ctx, url := setup(t)
	got := classicReceiver{ack: honestAck}.run(ctx, t, url, "35-several")
	sum, err := send.Files(ctx, send.FileOptions{Options: send.Options{Relay: url, Code: "35-several"}, Transport: "tcp"}, []string{a, b, tree, empty})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	var d classic.DirectoryOffer
	json.Unmarshal(r.offer.Directory, &d)
	if r.offer.File != nil || d.Mode != classic.ZipMode || d.Dirname != "ferry-files" || d.Numfiles != 3 ||
		d.Numbytes != 5+100000+10 || d.Zipsize != int64(len(r.content)) {
		t.Fatalf("offer %s / %+v, %d bytes of zip", r.offer.File, d, len(r.content))
	}
	if sum.Files != 3 {
		t.Errorf("summary says %d files", sum.Files)
	}
	zr, err := zip.NewReader(bytes.NewReader(r.content), int64(len(r.content)))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a.txt": "alpha", "b c.bin": string(bytes.Repeat([]byte{7}, 100000)), "tree/sub/run.sh": "#!/bin/sh\n", "empty/": ""}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		body, err := io.ReadAll(rc) // checks the CRC
		rc.Close()
		if w, ok := want[f.Name]; !ok || err != nil || string(body) != w {
			t.Errorf("zip entry %q: %d bytes, %v (expected: %v)", f.Name, len(body), err, ok)
		}
		delete(want, f.Name)
	}
	if len(want) != 0 {
		t.Errorf("the zip lacks %v", want)
	}
}
