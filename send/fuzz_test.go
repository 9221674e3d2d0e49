package send

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/ferrydrop/ferry/internal/classic"
)

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

// FuzzReadAck reads a classic receiver's final record over transit: raw
// bytes, or a plaintext sealed as the receiver's record. Properties: it
// reads at most one record of at most maxAck bytes from the connection; a
// sealed plaintext is accepted exactly when it is JSON with ack "ok" and a
// sha256 that is absent or the hex of what was sent; the error is one line
// with no control characters, whatever the receiver wrote.
func FuzzReadAck(f *testing.F) {
	key := bytes.Repeat([]byte{3}, 32)
	sum := sha256.Sum256([]byte("content"))
	for _, s := range []string{
		`{"ack":"ok","sha256":"` + hex.EncodeToString(sum[:]) + `"}`,
		`{"ack": "ok", "sha256": "` + strings.ToUpper(hex.EncodeToString(sum[:])) + `"}`,
		`{"ack":"ok"}`,
		`{"ack":"ok","sha256":"00"}`,
		`{"ack":"no\u001b[2J"}`,
		`{"ack":"ok","sha256":"zz"}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s), true)
	}
	f.Add([]byte{0, 0, 0xff, 0xff}, false)
	f.Add(bytes.Repeat([]byte{' '}, maxAck+1), true)
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		_, theirs := classic.RecordKeys(key, true) // the sender opens with these
		wire := data
		if sealed {
			mine, _ := classic.RecordKeys(key, false) // the receiver seals with these
			var buf bytes.Buffer
			if err := classic.NewRecordWriter(&buf, mine).WriteRecord(data); err != nil {
				t.Fatal(err)
			}
			wire = append(buf.Bytes(), "trailing bytes"...)
		}
		r := &countReader{r: bytes.NewReader(wire)}
		err := readAck(r, theirs, sum[:])
		if r.n > 4+24+16+maxAck {
			t.Fatalf("read %d bytes for one acknowledgement", r.n)
		}
		if err != nil && strings.ContainsFunc(err.Error(), unicode.IsControl) {
			t.Fatalf("error %q has control characters", err)
		}
		if !sealed {
			return
		}
		var ack struct{ Ack, SHA256 string }
		want := len(data) <= maxAck && json.Unmarshal(data, &ack) == nil && ack.Ack == "ok"
		if want && ack.SHA256 != "" {
			got, herr := hex.DecodeString(ack.SHA256)
			want = herr == nil && bytes.Equal(got, sum[:])
		}
		if (err == nil) != want {
			t.Fatalf("acknowledgement %q: %v", data, err)
		}
	})
}
