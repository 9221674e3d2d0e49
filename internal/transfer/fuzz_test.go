package transfer

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ferrydrop/ferry/crypto"
)

// FuzzCheckName: a name from the network is accepted exactly when it is 1
// to MaxNameLen bytes of valid UTF-8, not . or .., with no path separator
// and no control, bidi or line-separator character; an accepted name is
// shown without control or bidi characters.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"report.pdf", "héllo wörld", "photos", ".hidden", "..", ".", "", "a/b", `a\b`, "\x00",
		"\x1b[31mred", "evil\u202egnp.exe", "bad\xffutf8", "c1\u0085", "line\u2028sep", "para\u2029sep", "zero\u200bwidth",
		strings.Repeat("x", MaxNameLen), strings.Repeat("x", MaxNameLen+1), strings.Repeat("é", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name)
		want := name != "" && name != "." && name != ".." && len(name) <= MaxNameLen && utf8.ValidString(name) &&
			!strings.ContainsAny(name, `/\`) && !strings.ContainsFunc(name, func(r rune) bool {
			return unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029'
		})
		if (err == nil) != want {
			t.Fatalf("CheckName(%q) = %v", name, err)
		}
		if err == nil && strings.ContainsFunc(Escape(name), func(r rune) bool { return unicode.IsControl(r) || isBidiControl(r) }) {
			t.Fatalf("valid name %q is shown as %q", name, Escape(name))
		}
		if err != nil && !clean(err.Error()) {
			t.Fatalf("CheckName(%q) error %q is not one clean line", name, err)
		}
	})
}

// manifestSeeds are manifests as ferry sends them, and broken ones.
var manifestSeeds = []string{
	`{"files":1,"bytes":1100000,"entries":[{"name":"report.pdf","size":1100000}]}`,
	`{"files":14,"bytes":38200000,"entries":[{"name":"report.pdf","size":1100000},{"name":"photos","dir":true,"size":37100000}]}`,
	`{"files":1,"bytes":-1,"entries":[{"name":"stdin.txt","size":-1}]}`,
	`{"files":0,"bytes":0,"entries":[{"name":"empty","dir":true,"size":0}]}`,
	`{"files":1,"bytes":5,"entries":[{"name":"../etc/passwd","size":5}]}`,
	`{"files":2,"bytes":2,"entries":[{"name":"a","size":1},{"name":"a","size":1}]}`,
	`{"files":2,"bytes":-2,"entries":[{"name":"a","size":9223372036854775807},{"name":"b","size":9223372036854775807}]}`,
	`{"files":1,"bytes":3,"entries":[{"name":"a","size":-1}]}`,
	`{"files":-1,"bytes":0,"entries":[{"name":"a","size":0}]}`,
	`{"files":1,"bytes":1,"entries":[]}`,
	`{"files":1,"bytes":1,"entries":[{"name":"line\u2028sep","size":1}]}`,
	`{"files":1,"bytes":5,"entries":[{"name":"a.txt","size":5}],"sums_later":true}`,
	`{"files":0,"bytes":0,"entries":[{"name":"empty","dir":true,"size":0}],"sums_later":true}`,
	`{"files":1,"bytes":-1,"entries":[{"name":"stdin.txt","size":-1}],"sums_later":true}`,
}

// FuzzManifest checks a manifest (JSON, as it arrives in a ferry offer).
// Properties: Check accepts exactly the manifests that list 1 to
// MaxEntries distinct valid names (CheckName), declare 0 to MaxFiles
// files and 0 to MaxFolders folders (at least as many as the top-level
// files and folders; a folder is never executable), and whose sizes are
// all unknown with the total unknown, or all known and adding up to the
// total without overflow; an accepted manifest
// re-encodes to one that parses to the same value and is accepted too.
func FuzzManifest(f *testing.F) {
	for _, s := range manifestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Manifest
		if json.Unmarshal(data, &m) != nil {
			return
		}
		err := m.Check()
		if (err == nil) != validManifest(m) {
			t.Fatalf("Check(%+v) = %v", m, err)
		}
		if err != nil {
			if !clean(err.Error()) {
				t.Fatalf("error %q is not one clean line", err)
			}
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back Manifest
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, m) {
			t.Fatalf("%+v re-encodes as %s, which parses as %+v (%v)", m, b, back, err)
		}
		if err := back.Check(); err != nil {
			t.Fatalf("re-encoded manifest fails: %v", err)
		}
	})
}

func validManifest(m Manifest) bool {
	if len(m.Entries) == 0 || len(m.Entries) > MaxEntries || m.Files < 0 || m.Files > MaxFiles ||
		m.Folders < 0 || m.Folders > MaxFolders {
		return false
	}
	unknown := m.Bytes == UnknownSize
	seen := map[string]bool{}
	var sum, files, folders int64
	for _, e := range m.Entries {
		if CheckName(e.Name) != nil || seen[e.Name] || (e.Dir && e.Exec) {
			return false
		}
		seen[e.Name] = true
		if e.Dir {
			folders++
		} else {
			files++
		}
		switch {
		case unknown && e.Size != UnknownSize, !unknown && e.Size < 0, e.Size > math.MaxInt64-sum:
			return false
		}
		if !unknown {
			sum += e.Size
		}
	}
	if m.SumsLater && (len(m.Sums) > 0 || unknown || m.Files == 0 || m.Files > MaxSums) {
		return false
	}
	return (unknown || sum == m.Bytes) && files <= m.Files && folders <= m.Folders
}

// envelopeSeeds are numbered-phase messages as the Python client,
// wormhole-william and ferry send them (file-transfer-protocol.rst).
var envelopeSeeds = []string{
	`{"offer":{"message":"the wifi password is hunter2"}}`,
	`{"offer":{"file":{"filename":"report.pdf","filesize":1100000}}}`,
	`{"offer":{"directory":{"mode":"zipfile/deflated","dirname":"photos","zipsize":100,"numbytes":200,"numfiles":3}}}`,
	`{"answer":{"message_ack":"ok"}}`,
	`{"answer":{"file_ack":"ok"}}`,
	`{"error":"transfer rejected"}`,
	`{"transit":{"abilities-v1":[{"type":"direct-tcp-v1"},{"type":"relay-v1"}],"hints-v1":[{"type":"direct-tcp-v1","hostname":"192.168.1.20","port":50000,"priority":0.0},{"type":"relay-v1","hints":[{"type":"direct-tcp-v1","hostname":"transit.magic-wormhole.io","port":4001,"priority":0.0}]}]}}`,
	`{"ferry":{"offer":{"manifest":{"files":1,"bytes":5,"entries":[{"name":"a.txt","size":5}]},"stream":"tar","transports":{"tcp":[{"type":"direct-tcp-v1","hostname":"127.0.0.1","port":4000}],"ice":{"ufrag":"abcd","pwd":"0123456789abcdef0123456789"},"relays":["192.0.2.1:4001"],"fingerprint":"00ff"}}}}`,
	`{"ferry":{"offer":{"manifest":{"files":0,"bytes":0,"entries":null},"stream":"tar","transports":{},"sealed":{"to":["0123456789ABCDEF0123456789ABCDEF01234567"],"signed":true,"manifest":"wcBMA1xg"}}}}`,
	`{"ferry":{"accept":{"tcp":[],"fingerprint":"ab"}}}`,
	`{"ferry":{"ice":{"ufrag":"abcd","candidates":["candidate:1 1 udp 2130706431 192.0.2.1 4000 typ host"],"done":true}}}`,
	`{"transit":null,"offer":null}`,
	`{"error":null}`,
	`[]`,
}

// FuzzEnvelope parses a peer's numbered-phase plaintext. Properties: a
// parsed envelope re-encodes to JSON that parses to an envelope encoding
// the same (a fixed point after one round); a ferry offer whose manifest
// passes Check lists only names that CheckName accepts.
func FuzzEnvelope(f *testing.F) {
	for _, s := range envelopeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "read message from the other side: ") || !clean(err.Error()) {
				t.Fatalf("error %q", err)
			}
			return
		}
		b1, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%+v does not re-encode: %v", e, err)
		}
		e2, err := ParseEnvelope(b1)
		if err != nil {
			t.Fatalf("re-encoded %s does not parse: %v", b1, err)
		}
		b2, err := json.Marshal(e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changes %s into %s (%v)", b1, b2, err)
		}
		if e.Ferry != nil && e.Ferry.Offer != nil && e.Ferry.Offer.Manifest.Check() == nil {
			for _, en := range e.Ferry.Offer.Manifest.Entries {
				if CheckName(en.Name) != nil {
					t.Fatalf("manifest passed with name %q", en.Name)
				}
			}
		}
	})
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// FuzzReadDone reads the receiver's acknowledgement: raw bytes from the
// data path, or a plaintext sealed with the right key. Properties: it
// never reads more than maxDone bytes of the connection; it returns only
// non-negative counts; a sealed plaintext of at most maxDone bytes is
// accepted exactly when it is JSON of a Done with non-negative counts, and
// gives those counts.
func FuzzReadDone(f *testing.F) {
	for _, s := range []string{`{"files":14,"bytes":38200000}`, `{"files":0,"bytes":0}`, `{"files":-1,"bytes":0}`,
		`{"files":1}`, `null`, `{"files":"1"}`, `[]`, ``, `{"files":1e3,"bytes":1}`} {
		f.Add([]byte(s), true)
	}
	f.Add([]byte("\xc3\x1e\x09\x07\x03\x08"), false)
	f.Add(bytes.Repeat([]byte(" "), maxDone+1), true)
	pakeKey := bytes.Repeat([]byte{5}, 32)
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		wire := data
		if sealed {
			key, err := doneKey(pakeKey)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc, err := crypto.Encrypt(&buf, key)
			if err != nil {
				t.Fatal(err)
			}
			enc.Write(data)
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			wire = buf.Bytes()
		}
		r := &countReader{r: bytes.NewReader(wire)}
		d, err := ReadDone(r, pakeKey)
		if r.n > maxDone {
			t.Fatalf("read %d bytes of the connection, more than %d", r.n, maxDone)
		}
		if err == nil && (d.Files < 0 || d.Bytes < 0) {
			t.Fatalf("accepted negative counts %+v", d)
		}
		if err != nil && !clean(err.Error()) {
			t.Fatalf("error %q is not one clean line", err)
		}
		if !sealed || len(wire) > maxDone {
			return
		}
		var want Done
		ok := json.Unmarshal(data, &want) == nil && want.Files >= 0 && want.Bytes >= 0
		if (err == nil) != ok || ok && d != want {
			t.Fatalf("sealed %q: %+v, %v", data, d, err)
		}
	})
}

// clean reports whether s can go to a terminal as one line: valid UTF-8
// with none of the characters Escape escapes (but backslashes).
func clean(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029'
	})
}

// lateSumsSeeds are the sums that follow an offer (Ferry.Sums), for the
// offer lateOffer: right, and broken.
var lateSumsSeeds = []string{
	`{"offer":"ab","sums":[{"path":"a.txt","size":5,"blake3":"` + strings.Repeat("00", 32) + `"},{"path":"photos/1.jpg","size":7,"blake3":"` + strings.Repeat("11", 32) + `"}]}`,
	`{"offer":"ab","sums":[{"path":"a.txt","size":12,"blake3":"` + strings.Repeat("00", 32) + `"}]}`,
	`{"offer":"ab","sums":[{"path":"../a.txt","size":5,"blake3":"` + strings.Repeat("00", 32) + `"},{"path":"photos/1.jpg","size":7,"blake3":"00"}]}`,
	`{"offer":"ab","sums":[]}`,
	`{"sealed":"AAEC"}`,
}

// lateOffer is the offer the fuzzed sums follow.
const lateOffer = `{"files":2,"folders":1,"bytes":12,"entries":[{"name":"a.txt","size":5},{"name":"photos","dir":true,"size":7}],"sums_later":true}`

// FuzzLateSums completes an offer with SumsLater by the sums that follow
// it (JSON, as they arrive in Ferry.Sums). Properties: WithSums accepts
// exactly the sums Check would accept in the offer itself; the result no
// longer says the sums follow; errors are one clean line.
func FuzzLateSums(f *testing.F) {
	for _, s := range lateSumsSeeds {
		f.Add([]byte(s))
	}
	var offer Manifest
	if err := json.Unmarshal([]byte(lateOffer), &offer); err != nil || offer.Check() != nil {
		f.Fatalf("the offer does not parse or check: %v", err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ls LateSums
		if json.Unmarshal(data, &ls) != nil {
			return
		}
		m, err := offer.WithSums(ls.Sums)
		inline := offer
		inline.SumsLater, inline.Sums = false, ls.Sums
		want := len(ls.Sums) > 0 && inline.Check() == nil
		if (err == nil) != want {
			t.Fatalf("WithSums(%+v) = %v; in the offer itself it checks %v", ls.Sums, err, inline.Check())
		}
		if err != nil {
			if !clean(err.Error()) {
				t.Fatalf("error %q is not one clean line", err)
			}
			return
		}
		if m.SumsLater || m.Check() != nil {
			t.Fatalf("completed offer %+v still says its sums follow, or fails its check", m)
		}
	})
}
