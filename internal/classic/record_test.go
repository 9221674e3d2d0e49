package classic

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func TestRecordRoundTrip(t *testing.T) {
	mine, _ := RecordKeys(testKey, true)
	_, theirs := RecordKeys(testKey, false)
	if *mine != *theirs {
		t.Fatal("the receiver opens with a different key than the sender seals with")
	}
	var buf bytes.Buffer
	w := NewRecordWriter(&buf, mine)
	msgs := []string{"hello", "", strings.Repeat("x", 3*ChunkSize+5)}
	for _, m := range msgs[:2] {
		if err := w.WriteRecord([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte(msgs[2])); err != nil {
		t.Fatal(err)
	}
	// The nonce is the counter, big-endian, as Python writes "%048x".
	b := buf.Bytes()
	first := binary.BigEndian.Uint32(b)
	second := b[4+first:]
	if n := second[4 : 4+nonceSize]; n[nonceSize-1] != 1 || !bytes.Equal(n[:nonceSize-1], make([]byte, nonceSize-1)) {
		t.Fatalf("second record's nonce is %x, want the big-endian counter 1", n)
	}
	r := NewRecordReader(&buf, theirs)
	for _, m := range msgs[:2] {
		got, err := r.ReadRecord()
		if err != nil || string(got) != m {
			t.Fatalf("got %q %v, want %q", got, err, m)
		}
	}
	got, err := io.ReadAll(NewReader(r, int64(len(msgs[2]))))
	if err != nil || string(got) != msgs[2] {
		t.Fatalf("chunked content: %d bytes, %v", len(got), err)
	}
	if _, err := r.ReadRecord(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

func sealed(t *testing.T, n int, msgs ...string) []byte {
	t.Helper()
	k, _ := RecordKeys(testKey, true)
	var buf bytes.Buffer
	w := NewRecordWriter(&buf, k)
	w.n = uint64(n)
	for _, m := range msgs {
		w.WriteRecord([]byte(m))
	}
	return buf.Bytes()
}

func TestRecordReaderRefuses(t *testing.T) {
	k, _ := RecordKeys(testKey, true)
	huge := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	tampered := sealed(t, 0, "hello")
	tampered[len(tampered)-1] ^= 1
	cases := map[string][]byte{
		"length over 64 MiB":    huge, // no body: allocating for it would be the bug
		"length below overhead": binary.BigEndian.AppendUint32(nil, 10),
		"wrong counter":         sealed(t, 1, "hello"),
		"tampered":              tampered,
		"truncated":             sealed(t, 0, "hello")[:20],
		"cut header":            {0, 0},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewRecordReader(bytes.NewReader(data), k).ReadRecord()
			if err == nil || err == io.EOF {
				t.Fatalf("accepted: %v", err)
			}
			t.Log(err)
		})
	}
	// Replaying a record: the second copy carries an old counter.
	rec := sealed(t, 0, "a")
	r := NewRecordReader(bytes.NewReader(append(rec, rec...)), k)
	if _, err := r.ReadRecord(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadRecord(); err == nil {
		t.Fatal("a replayed record was accepted")
	}
	// Limit lowers the cap.
	r = NewRecordReader(bytes.NewReader(sealed(t, 0, "too long")), k)
	r.Limit(4)
	if _, err := r.ReadRecord(); err == nil {
		t.Fatal("a record over the limit was accepted")
	}
}

func TestReaderStopsAtSize(t *testing.T) {
	k, _ := RecordKeys(testKey, true)
	r := NewReader(NewRecordReader(bytes.NewReader(sealed(t, 0, "abc", "def")), k), 4)
	_, err := io.ReadAll(r)
	if err == nil || !strings.Contains(err.Error(), "more than it offered") {
		t.Fatalf("err = %v, want the sender sent more than it offered", err)
	}
	r = NewReader(NewRecordReader(bytes.NewReader(sealed(t, 0, "abc")), k), 4)
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short stream: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestParseTransit(t *testing.T) {
	var hints []Hint
	for i := range 200 {
		hints = append(hints, Hint{Type: DirectTCP, Hostname: "10.0.0.1", Port: 1000 + i})
	}
	hints = append(hints,
		Hint{Type: "tor-tcp-v1", Hostname: "x.onion", Port: 80},
		Hint{Type: RelayV1, Hints: []Hint{{Type: DirectTCP, Hostname: "127.0.0.1", Port: 4001}, {Type: "websocket-v1", Hostname: "h"}}})
	raw, _ := json.Marshal(Transit{Abilities: []Ability{{Type: DirectTCP}}, Hints: hints})
	direct, relays, err := ParseTransit(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(direct) != 4*MaxPeerHints || len(relays) != 1 || relays[0].Port != 4001 {
		t.Fatalf("direct %d, relays %+v", len(direct), relays)
	}
	// What Python 0.12 sends.
	py := `{"abilities-v1": [{"type": "direct-tcp-v1"}, {"type": "relay-v1"}], "hints-v1": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "192.168.1.2", "port": 40000}, {"type": "relay-v1", "hints": [{"type": "direct-tcp-v1", "priority": 0.0, "hostname": "transit.magic-wormhole.io", "port": 4001}]}]}`
	direct, relays, err = ParseTransit(json.RawMessage(py))
	if err != nil || len(direct) != 1 || direct[0].Port != 40000 || len(relays) != 1 || relays[0].Hostname != "transit.magic-wormhole.io" {
		t.Fatalf("python message: %+v %+v %v", direct, relays, err)
	}
}

func TestParseRelay(t *testing.T) {
	for in, want := range map[string]string{
		"tcp:transit.magic-wormhole.io:4001": "transit.magic-wormhole.io:4001",
		"127.0.0.1:4001":                     "127.0.0.1:4001",
		"tcp:[::1]:4001":                     "[::1]:4001",
		"none":                               "",
		"":                                   "",
	} {
		if got, err := ParseRelay(in); err != nil || got != want {
			t.Errorf("ParseRelay(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"tcp:host", "host:0", "host:99999", ":4001", "ws://x:1"} {
		if _, err := ParseRelay(bad); err == nil {
			t.Errorf("ParseRelay(%q) accepted", bad)
		}
	}
}

// BenchmarkRecords measures sealing and opening ChunkSize records.
func BenchmarkRecords(b *testing.B) {
	k, _ := RecordKeys(testKey, true)
	chunk := make([]byte, ChunkSize)
	var buf bytes.Buffer
	b.SetBytes(ChunkSize)
	b.ReportAllocs()
	w := NewRecordWriter(&buf, k)
	r := NewRecordReader(&buf, k)
	for b.Loop() {
		if err := w.WriteRecord(chunk); err != nil {
			b.Fatal(err)
		}
		if _, err := r.ReadRecord(); err != nil {
			b.Fatal(err)
		}
	}
}
