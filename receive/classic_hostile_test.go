package receive_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/classic"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/receive"
)

// classicPeer is a classic Magic Wormhole client (no "ferry" in its
// app_versions) over the real mailbox protocol.
func classicPeer(ctx context.Context, t *testing.T, url, code string) *wormhole.Wormhole {
	t.Helper()
	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.UseCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	return w
}

// classicHints is a transit message naming ln.
func classicHints(ln *transit.Listener) json.RawMessage {
	msg := classic.Transit{Abilities: []classic.Ability{{Type: classic.DirectTCP}}}
	for _, h := range ln.Hints() {
		msg.Hints = append(msg.Hints, classic.Hint{Type: classic.DirectTCP, Hostname: h.Hostname, Port: h.Port})
	}
	raw, _ := json.Marshal(msg)
	return raw
}

// classicSender is a classic sender built to misbehave: it speaks the
// real protocol up to transit, then sends whatever body writes.
type classicSender struct {
	offer transfer.Offer
	body  func(conn net.Conn, key *[32]byte)
}

func (h classicSender) run(ctx context.Context, t *testing.T, url, code string) {
	w := classicPeer(ctx, t, url, code)
	go func() {
		defer w.Close(ctx, wormhole.Happy)
		if w.Establish(ctx) != nil {
			return
		}
		ln, err := transit.Listen(ctx, "127.0.0.1:0")
		if err != nil {
			return
		}
		defer ln.Close()
		if w.SendJSON(ctx, transfer.Envelope{Transit: classicHints(ln)}) != nil || w.SendJSON(ctx, transfer.Envelope{Offer: &h.offer}) != nil {
			return
		}
		var peer json.RawMessage
		for {
			b, err := w.Receive(ctx)
			if err != nil {
				return
			}
			e, _ := transfer.ParseEnvelope(b)
			if e.Transit != nil {
				peer = e.Transit
			}
			if e.Error != nil {
				return
			}
			if e.Answer != nil {
				break
			}
		}
		direct, _, _ := classic.ParseTransit(peer)
		key := w.Key(classic.TransitKeyPurpose, 32)
		conn, err := transit.Connect(ctx, transit.Config{Key: key, Role: transit.Sender, Listener: ln, Peer: direct})
		if err != nil {
			return
		}
		defer conn.Close()
		mine, _ := classic.RecordKeys(key, true)
		h.body(conn, mine)
		conn.Close()
	}()
}

type zipEntry struct {
	name, body string
	mode       fs.FileMode
}

func makeZip(entries ...zipEntry) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr.SetMode(mode)
		w, _ := zw.CreateHeader(hdr)
		w.Write([]byte(e.body))
	}
	zw.Close()
	return buf.Bytes()
}

func fileOffer(name string, size int64) transfer.Offer {
	raw, _ := json.Marshal(classic.FileOffer{Filename: name, Filesize: size})
	return transfer.Offer{File: raw}
}

// folder offers z as dirname with the given counts, and sends it.
func folder(dirname string, z []byte, files, bytes int64) classicSender {
	raw, _ := json.Marshal(classic.DirectoryOffer{Mode: classic.ZipMode, Dirname: dirname, Zipsize: int64(len(z)), Numbytes: bytes, Numfiles: files})
	return classicSender{offer: transfer.Offer{Directory: raw}, body: func(c net.Conn, key *[32]byte) { classic.NewRecordWriter(c, key).Write(z) }}
}

func records(chunks ...string) func(net.Conn, *[32]byte) {
	return func(c net.Conn, key *[32]byte) {
		rw := classic.NewRecordWriter(c, key)
		for _, c := range chunks {
			rw.WriteRecord([]byte(c))
		}
	}
}

// TestHostileClassicSenders runs each misbehaving classic sender against
// the real receiver: each is refused, nothing lands in or beside --out,
// and no partial file keeps its final name.
func TestHostileClassicSenders(t *testing.T) {
	lying := folder("d", makeZip(zipEntry{name: "a", body: "abc"}), 1, 3)
	lying.offer.Directory, _ = json.Marshal(classic.DirectoryOffer{Mode: classic.ZipMode, Dirname: "d", Zipsize: 10, Numbytes: 3, Numfiles: 1})
	cases := map[string]classicSender{
		"zip dotdot":               folder("d", makeZip(zipEntry{name: "../escape", body: "a"}), 1, 1),
		"zip deep dotdot":          folder("d", makeZip(zipEntry{name: "x/../../../outside/escape", body: "a"}), 1, 1),
		"zip absolute":             folder("d", makeZip(zipEntry{name: "/tmp/ferry-abs", body: "a"}), 1, 1),
		"zip backslash":            folder("d", makeZip(zipEntry{name: `..\escape`, body: "a"}), 1, 1),
		"zip symlink":              folder("d", makeZip(zipEntry{name: "l", body: "../../outside", mode: fs.ModeSymlink | 0o777}, zipEntry{name: "l/x", body: "a"}), 1, 1),
		"zip duplicate":            folder("d", makeZip(zipEntry{name: "a", body: "1"}, zipEntry{name: "a", body: "2"}), 2, 2),
		"zip file and dir":         folder("d", makeZip(zipEntry{name: "a", body: "1"}, zipEntry{name: "a/b", body: "2"}), 2, 2),
		"zip ansi name":            folder("d", makeZip(zipEntry{name: "\x1b[2Jx", body: "a"}), 1, 1),
		"zip too many files":       folder("d", makeZip(zipEntry{name: "a", body: "1"}, zipEntry{name: "b", body: "2"}), 1, 2),
		"zip too many bytes":       folder("d", makeZip(zipEntry{name: "a", body: strings.Repeat("z", 1000)}), 1, 10),
		"zip not a zip":            folder("d", []byte("this is not a zip file at all"), 1, 1),
		"zip longer than zipsize":  lying,
		"dirname dotdot":           folder("..", makeZip(zipEntry{name: "a", body: "1"}), 1, 1),
		"file name dotdot":         {offer: fileOffer("../escape", 1), body: records("a")},
		"file name absolute":       {offer: fileOffer("/tmp/ferry-abs", 1), body: records("a")},
		"file larger than offered": {offer: fileOffer("f", 5), body: records("abc", "defgh")},
		"file one big record":      {offer: fileOffer("f", 5), body: records("abcdefghij")},
		"file short":               {offer: fileOffer("f", 5), body: records("abc")},
		"record over 64 MiB": {offer: fileOffer("f", 100<<20), body: func(c net.Conn, _ *[32]byte) {
			c.Write(binary.BigEndian.AppendUint32(nil, 0xfffffff0))
			c.Write(make([]byte, 4096))
		}},
		"replayed record": {offer: fileOffer("f", 2), body: func(c net.Conn, key *[32]byte) {
			var buf bytes.Buffer
			classic.NewRecordWriter(&buf, key).WriteRecord([]byte("a"))
			c.Write(buf.Bytes())
			c.Write(buf.Bytes())
		}},
		"tampered record": {offer: fileOffer("f", 1), body: func(c net.Conn, key *[32]byte) {
			var buf bytes.Buffer
			classic.NewRecordWriter(&buf, key).WriteRecord([]byte("a"))
			b := buf.Bytes()
			b[len(b)-1] ^= 1
			c.Write(b)
		}},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			h.run(ctx, t, url, "50-evil-classic")
			_, err := receive.Run(ctx, "50-evil-classic", receive.Options{
				Relay: url, Out: out, Transport: transfer.TransportTCP, Accept: func(transfer.Manifest) error { return nil },
			})
			if err == nil {
				t.Fatal("hostile classic sender's transfer was accepted")
			}
			t.Logf("refused: %v", err)
			nothingLanded(t, base)
			if _, err := os.Lstat("/tmp/ferry-abs"); err == nil {
				t.Error("/tmp/ferry-abs was created")
			}
		})
	}
}

// TestClassicSenderGone: a classic sender whose connection ends before
// the offered bytes (its program was killed: the kernel closes its
// socket) fails the transfer with ErrConnectionLost, in words, and
// nothing lands; a stream that breaks on a sound connection (a tampered
// record) does not pass for a lost sender.
func TestClassicSenderGone(t *testing.T) {
	cut := func(c net.Conn, key *[32]byte) {
		rw := classic.NewRecordWriter(c, key)
		rw.WriteRecord(bytes.Repeat([]byte("a"), 1000))
		rw.WriteRecord(bytes.Repeat([]byte("b"), 1000))
	}
	z := makeZip(zipEntry{name: "a", body: strings.Repeat("x", 5000)})
	cutZip := folder("d", z, 1, 5000)
	cutZip.body = func(c net.Conn, key *[32]byte) { classic.NewRecordWriter(c, key).Write(z[:len(z)/2]) }
	for name, h := range map[string]classicSender{
		"file":   {offer: fileOffer("f", 1<<20), body: cut},
		"folder": cutZip,
	} {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			h.run(ctx, t, url, "51-gone-classic")
			_, err := receive.Run(ctx, "51-gone-classic", receive.Options{
				Relay: url, Out: out, Transport: transfer.TransportTCP, Accept: func(transfer.Manifest) error { return nil },
			})
			if !errors.Is(err, receive.ErrConnectionLost) {
				t.Fatalf("receive: %v; want ErrConnectionLost", err)
			}
			t.Logf("receive: %v", err)
			nothingLanded(t, base)
		})
	}
	t.Run("tampered", func(t *testing.T) {
		ctx, url := setup(t)
		base, out := landingDirs(t)
		h := classicSender{offer: fileOffer("f", 2), body: func(c net.Conn, key *[32]byte) {
			var buf bytes.Buffer
			classic.NewRecordWriter(&buf, key).WriteRecord([]byte("ab"))
			b := buf.Bytes()
			b[len(b)-1] ^= 1
			c.Write(b)
		}}
		h.run(ctx, t, url, "52-bad-classic")
		_, err := receive.Run(ctx, "52-bad-classic", receive.Options{
			Relay: url, Out: out, Transport: transfer.TransportTCP, Accept: func(transfer.Manifest) error { return nil },
		})
		if err == nil || errors.Is(err, receive.ErrConnectionLost) {
			t.Fatalf("receive: %v; want a bad record, not a lost connection", err)
		}
		nothingLanded(t, base)
	})
}
