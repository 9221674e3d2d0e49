package stripe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The frames every path carries, in both directions:
//
//	'D' seq:u64 len:u32 data[len]   piece seq of the stream (1 ≤ len ≤ MaxPiece)
//	'A' next:u64                    every piece before next was read by the application
//	'F' total:u64                   the writer is done: the stream has total pieces
//
// An ack is also the keepalive: a path that carried nothing for a while
// carries the current ack, which heals an ack lost with a dying path.
// Integers are big-endian. A peer that sends anything else, a piece
// longer than MaxPiece or empty, or numbers that go backwards or beyond
// what it may have in flight, ends the connection with ErrProtocol.
const (
	frameData = 'D'
	frameAck  = 'A'
	frameFin  = 'F'
)

// MaxPiece is the largest piece a peer may send.
const MaxPiece = 1 << 20

// ErrProtocol is a peer that broke the striping protocol.
var ErrProtocol = errors.New("stripe: protocol violation")

// frame is one decoded frame.
type frame struct {
	typ  byte
	n    uint64 // seq, next or total
	data []byte
}

// headerLen is the longest header: a data frame's.
const headerLen = 1 + 8 + 4

// appendData appends the header of a data frame.
func appendData(b []byte, seq uint64, n int) []byte {
	b = append(b, frameData)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// appendControl appends an ack or fin frame.
func appendControl(b []byte, typ byte, n uint64) []byte {
	b = append(b, typ)
	return binary.BigEndian.AppendUint64(b, n)
}

// readFrame reads one frame from r. A data frame's bytes go into the
// slice alloc returns for its seq and length (the length already checked
// against MaxPiece), so the caller decides, before anything is allocated,
// whether the piece is acceptable (an error ends the connection) and
// where it lives; a nil slice discards the piece (a duplicate).
func readFrame(r io.Reader, hdr *[headerLen]byte, alloc func(seq uint64, n int) ([]byte, error)) (frame, error) {
	if _, err := io.ReadFull(r, hdr[:1]); err != nil {
		return frame{}, err
	}
	f := frame{typ: hdr[0]}
	switch f.typ {
	case frameAck, frameFin:
		if _, err := io.ReadFull(r, hdr[1:9]); err != nil {
			return frame{}, unexpected(err)
		}
		f.n = binary.BigEndian.Uint64(hdr[1:9])
		return f, nil
	case frameData:
		if _, err := io.ReadFull(r, hdr[1:headerLen]); err != nil {
			return frame{}, unexpected(err)
		}
		f.n = binary.BigEndian.Uint64(hdr[1:9])
		n := binary.BigEndian.Uint32(hdr[9:headerLen])
		if n == 0 || n > MaxPiece {
			return frame{}, fmt.Errorf("%w: a piece of %d bytes", ErrProtocol, n)
		}
		data, err := alloc(f.n, int(n))
		if err != nil {
			return frame{}, err
		}
		if data == nil {
			if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
				return frame{}, unexpected(err)
			}
			return f, nil
		}
		if _, err := io.ReadFull(r, data); err != nil {
			return frame{}, unexpected(err)
		}
		f.data = data
		return f, nil
	}
	return frame{}, fmt.Errorf("%w: frame type %#x", ErrProtocol, f.typ)
}

// unexpected turns the end of a path in the middle of a frame into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
