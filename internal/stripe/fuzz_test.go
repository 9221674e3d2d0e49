package stripe

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame: any bytes from a peer parse into frames or an error,
// never a piece allocated beyond MaxPiece, and every frame read encodes
// back to exactly the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	f.Add(data(0, []byte("hello")))
	f.Add(append(appendControl(nil, frameAck, 7), appendControl(nil, frameFin, 9)...))
	f.Add(appendData(nil, 1, MaxPiece+1))
	f.Add(appendData(nil, 1, 0))
	f.Add([]byte("D\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05abc"))
	f.Add([]byte{'Z'})
	f.Fuzz(func(t *testing.T, wire []byte) {
		r := bytes.NewReader(wire)
		var hdr [headerLen]byte
		for {
			before := len(wire) - r.Len()
			discard := false
			f, err := readFrame(r, &hdr, func(seq uint64, n int) ([]byte, error) {
				if n <= 0 || n > MaxPiece {
					t.Fatalf("asked to allocate %d bytes", n)
				}
				if seq%2 == 1 { // odd pieces are "duplicates": discarded
					discard = true
					return nil, nil
				}
				return make([]byte, n), nil
			})
			if err != nil {
				if errors.Is(err, io.EOF) && r.Len() != 0 {
					t.Fatalf("EOF with %d bytes left", r.Len())
				}
				return
			}
			consumed := wire[before : len(wire)-r.Len()]
			var again []byte
			switch f.typ {
			case frameData:
				n := len(consumed) - headerLen
				again = appendData(nil, f.n, n)
				if discard {
					again = append(again, consumed[headerLen:]...)
				} else {
					again = append(again, f.data...)
				}
			case frameAck, frameFin:
				again = appendControl(nil, f.typ, f.n)
			default:
				t.Fatalf("frame type %q returned without error", f.typ)
			}
			if !bytes.Equal(again, consumed) {
				t.Fatalf("frame %c %d encodes as %x, read from %x", f.typ, f.n, again, consumed)
			}
		}
	})
}
