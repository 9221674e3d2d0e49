package classic

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/transit"
)

// recordStream seals msgs as consecutive records with the sender's key.
func recordStream(msgs ...string) []byte {
	k, _ := RecordKeys(testKey, true)
	var buf bytes.Buffer
	w := NewRecordWriter(&buf, k)
	for _, m := range msgs {
		w.WriteRecord([]byte(m))
	}
	return buf.Bytes()
}

// FuzzRecordReader reads a hostile record stream with a fuzzed limit.
// Properties: no record longer than the limit comes out, and the reader
// never allocates more than the limit plus the record overhead, whatever
// length the stream announces.
func FuzzRecordReader(f *testing.F) {
	f.Add(recordStream(`{"ack":"ok","sha256":"00"}`), uint16(4096))
	f.Add(recordStream("hello", "", "world"), uint16(5))
	f.Add(recordStream("too long"), uint16(4))
	f.Add(binary.BigEndian.AppendUint32(nil, 0xffffffff), uint16(65535))
	f.Add(binary.BigEndian.AppendUint32(nil, 65535+overhead), uint16(65535))
	f.Add(binary.BigEndian.AppendUint32(nil, 10), uint16(100))
	f.Add([]byte{0, 0}, uint16(1))
	_, theirs := RecordKeys(testKey, false)
	f.Fuzz(func(t *testing.T, stream []byte, limit uint16) {
		rr := NewRecordReader(bytes.NewReader(stream), theirs)
		rr.Limit(uint32(limit))
		for range 64 {
			rec, err := rr.ReadRecord()
			if cap(rr.buf) > int(limit)+overhead {
				t.Fatalf("allocated %d bytes with a limit of %d", cap(rr.buf), limit)
			}
			if err != nil {
				return
			}
			if len(rec) > int(limit) {
				t.Fatalf("record of %d bytes with a limit of %d", len(rec), limit)
			}
		}
	})
}

// FuzzRecordRoundTrip writes a payload as records (split at fuzzed sizes),
// optionally flips one bit of the stream, and reads it back. Properties:
// untouched, the records come back exactly, and Reader yields exactly the
// payload when told its size, at most the first size bytes of a longer one
// (then EOF, or an error for a record that straddles the size), and
// reports a shorter one as truncated; with a bit flipped the
// reader returns only records before the damage, each exact, then fails.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), []byte{5}, uint32(0))
	f.Add([]byte("hello world"), []byte{5, 0, 3}, uint32(77))
	f.Add(bytes.Repeat([]byte("x"), 300), []byte{200, 1}, uint32(8*4+3))
	f.Add([]byte{}, []byte{}, uint32(1))
	mine, _ := RecordKeys(testKey, true)
	_, theirs := RecordKeys(testKey, false)
	f.Fuzz(func(t *testing.T, payload, splits []byte, flip uint32) {
		var recs [][]byte
		rest := payload
		for i := 0; len(rest) > 0 || i == 0; i++ {
			n := len(rest)
			if i < len(splits) {
				n = min(n, int(splits[i]))
			}
			recs = append(recs, rest[:n])
			rest = rest[n:]
		}
		var buf bytes.Buffer
		w := NewRecordWriter(&buf, mine)
		ends := []int{}
		for _, r := range recs {
			if err := w.WriteRecord(r); err != nil {
				t.Fatal(err)
			}
			ends = append(ends, buf.Len())
		}
		stream := buf.Bytes()
		if flip == 0 {
			rr := NewRecordReader(bytes.NewReader(stream), theirs)
			for i, want := range recs {
				got, err := rr.ReadRecord()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("record %d: %q, %v; want %q", i, got, err, want)
				}
			}
			if _, err := rr.ReadRecord(); err != io.EOF {
				t.Fatalf("after the last record: %v", err)
			}
			for _, size := range []int64{int64(len(payload)), int64(len(payload)) - 1, int64(len(payload)) + 1} {
				if size < 0 {
					continue
				}
				got, err := io.ReadAll(NewReader(NewRecordReader(bytes.NewReader(stream), theirs), size))
				switch {
				case size == int64(len(payload)) && (err != nil || !bytes.Equal(got, payload)):
					t.Fatalf("read %d of %d bytes: %v", len(got), len(payload), err)
				case size < int64(len(payload)) && (!bytes.HasPrefix(payload, got) || err == nil && int64(len(got)) != size):
					t.Fatalf("told %d of %d bytes: read %q, %v", size, len(payload), got, err)
				case size > int64(len(payload)) && !errors.Is(err, io.ErrUnexpectedEOF):
					t.Fatalf("told %d of %d bytes: %v, want unexpected EOF", size, len(payload), err)
				}
			}
			return
		}
		bit := int(flip) % (8 * len(stream))
		stream[bit/8] ^= 1 << (bit % 8)
		rr := NewRecordReader(bytes.NewReader(stream), theirs)
		rr.Limit(uint32(len(payload)))
		for i, want := range recs {
			got, err := rr.ReadRecord()
			if ends[i] <= bit/8 {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("undamaged record %d: %q, %v", i, got, err)
				}
				continue
			}
			if err == nil {
				t.Fatalf("record %d read despite bit %d flipped: %q", i, bit, got)
			}
			return
		}
		t.Fatalf("every record read despite bit %d flipped", bit)
	})
}

// transitSeeds are transit messages as the Python client, wormhole-william
// and ferry send them.
var transitSeeds = []string{
	`{"abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}], "hints-v1": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "192.168.1.2", "port": 40000}, {"type": "relay-v1", "hints": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "transit.magic-wormhole.io", "port": 4001}]}]}`,
	`{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"relay-v1"}],"hints-v1":[{"type":"direct-tcp-v1","hostname":"10.0.0.5","port":37251,"priority":0}]}`,
	`{"abilities-v1":[],"hints-v1":[{"type":"tor-tcp-v1","hostname":"x.onion","port":80},{"type":"relay-v1","hints":[{"type":"websocket-v1","url":"wss://x"}]}]}`,
	`{"hints-v1":null}`,
	`{}`,
	`null`,
}

// FuzzParseTransit parses a peer's transit message. Properties: only
// direct-tcp-v1 hints come out, in the order given, at most 4*MaxPeerHints
// direct and 4*MaxPeerRelays relay endpoints, each with the hint's address;
// what transit.FilterHints then dials is at most transit.MaxHints.
func FuzzParseTransit(f *testing.F) {
	for _, s := range transitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		direct, relays, err := ParseTransit(data)
		var msg Transit
		if (err == nil) != (json.Unmarshal(data, &msg) == nil) {
			t.Fatalf("ParseTransit(%q): %v", data, err)
		}
		if err != nil {
			return
		}
		var wantDirect, wantRelays []transit.Hint
		for _, h := range msg.Hints {
			if h.Type == DirectTCP {
				wantDirect = append(wantDirect, tcpHint(h))
			}
			if h.Type == RelayV1 {
				for _, r := range h.Hints {
					if r.Type == DirectTCP {
						wantRelays = append(wantRelays, tcpHint(r))
					}
				}
			}
		}
		wantDirect = wantDirect[:min(len(wantDirect), 4*MaxPeerHints)]
		wantRelays = wantRelays[:min(len(wantRelays), 4*MaxPeerRelays)]
		if !reflect.DeepEqual(direct, wantDirect) || !reflect.DeepEqual(relays, wantRelays) {
			t.Fatalf("ParseTransit(%q) = %+v, %+v", data, direct, relays)
		}
		for _, h := range append(direct, relays...) {
			if h.Type != DirectTCP {
				t.Fatalf("hint of type %q", h.Type)
			}
		}
		if n := len(transit.FilterHints(direct)); n > transit.MaxHints {
			t.Fatalf("%d direct hints to dial", n)
		}
	})
}

// FuzzOffer parses a classic sender's offer as the receiver does (the
// numbered-phase envelope, then the file or directory body). Properties: a
// file or directory offer re-encodes to one that parses the same;
// DirectoryOffer.Check accepts exactly the zip mode with no negative
// number; its error is one line with no control characters, however the
// mode was spelled.
func FuzzOffer(f *testing.F) {
	for _, s := range []string{
		`{"offer":{"file":{"filename":"report.pdf","filesize":1100000}}}`,
		`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"photos","zipsize":100,"numbytes":200,"numfiles":3}}}`,
		`{"offer":{"directory":{"mode":"zipfile/\u001b[2Jstored","dirname":"x","zipsize":1,"numbytes":1,"numfiles":1}}}`,
		`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"x","zipsize":-1,"numbytes":1,"numfiles":1}}}`,
		`{"offer":{"file":{"filename":"../../etc/passwd","filesize":-5}}}`,
		`{"offer":{"message":"hi"}}`,
		`{"offer":{"file":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := transfer.ParseEnvelope(data)
		if err != nil || e.Offer == nil {
			return
		}
		if e.Offer.File != nil {
			var fo FileOffer
			if json.Unmarshal(e.Offer.File, &fo) == nil {
				roundTrip(t, fo, &FileOffer{})
			}
		}
		if e.Offer.Directory != nil {
			var d DirectoryOffer
			if json.Unmarshal(e.Offer.Directory, &d) != nil {
				return
			}
			roundTrip(t, d, &DirectoryOffer{})
			err := d.Check()
			want := d.Mode == ZipMode && d.Zipsize >= 0 && d.Numbytes >= 0 && d.Numfiles >= 0
			if (err == nil) != want {
				t.Fatalf("Check(%+v) = %v", d, err)
			}
			if err != nil && strings.ContainsFunc(err.Error(), unicode.IsControl) {
				t.Fatalf("error %q has control characters", err)
			}
		}
	})
}

// roundTrip checks that v re-encodes to JSON that parses into *back as v.
func roundTrip[T any](t *testing.T, v T, back *T) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, back); err != nil || !reflect.DeepEqual(*back, v) {
		t.Fatalf("%+v re-encodes as %s, which parses as %+v (%v)", v, b, *back, err)
	}
}

// FuzzParseRelay: a transit relay setting comes out as HOST:PORT, the host
// without spaces or control characters and the port a plain decimal in
// 1..65535, and what comes out is accepted again unchanged.
func FuzzParseRelay(f *testing.F) {
	for _, s := range []string{"tcp:transit.magic-wormhole.io:4001", "127.0.0.1:4001", "tcp:[::1]:4001", "none", "",
		"tcp:host", "host:0", "host:99999", ":4001", "ws://x:1", " tcp:h:1 ", "[::1%eth0]:1", "h:+1", "h:01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := ParseRelay(s)
		if err != nil || addr == "" {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil || strconv.Itoa(p) != port || p < 1 || p > 65535 ||
			strings.ContainsFunc(host, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			t.Fatalf("ParseRelay(%q) = %q", s, addr)
		}
		again, err := ParseRelay(addr)
		if err != nil || again != addr {
			t.Fatalf("ParseRelay(%q) = %q, which parses as %q, %v", s, addr, again, err)
		}
	})
}
