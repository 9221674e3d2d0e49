package classic

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/nacl/secretbox"
)

// Record layer limits.
const (
	// MaxRecord caps the plaintext of one record a peer may send (the
	// transit spec's suggested limit), checked before anything is
	// allocated.
	MaxRecord = 64 << 20
	// ChunkSize is the plaintext size of the records ferry sends.
	ChunkSize = 64 << 10

	nonceSize = 24
	overhead  = nonceSize + secretbox.Overhead
)

// Record key purposes, derived from the transit key.
const (
	senderRecordKey   = "transit_record_sender_key"
	receiverRecordKey = "transit_record_receiver_key"
)

// ErrRecordTooLarge means the peer announced a record over MaxRecord.
var ErrRecordTooLarge = errors.New("record is larger than 64 MiB")

func derive(key []byte, purpose string) *[32]byte {
	b, err := hkdf.Key(sha256.New, key, nil, purpose, 32)
	if err != nil {
		panic("classic: hkdf: " + err.Error()) // only an impossible length gets here
	}
	var k [32]byte
	copy(k[:], b)
	return &k
}

// RecordKeys returns the key a side seals its records with and the key it
// opens the peer's with.
func RecordKeys(transitKey []byte, sender bool) (mine, theirs *[32]byte) {
	s, r := derive(transitKey, senderRecordKey), derive(transitKey, receiverRecordKey)
	if sender {
		return s, r
	}
	return r, s
}

// counterNonce writes n as a 24-byte big-endian number, as Python's
// transit does ("%048x"); transit.md's little-endian is wrong.
func counterNonce(nonce *[nonceSize]byte, n uint64) {
	clear(nonce[:nonceSize-8])
	binary.BigEndian.PutUint64(nonce[nonceSize-8:], n)
}

// RecordWriter seals records: 4-byte big-endian length, then the 24-byte
// nonce (a counter from 0) and the secretbox.
type RecordWriter struct {
	w     io.Writer
	key   *[32]byte
	n     uint64
	buf   []byte
	nonce [nonceSize]byte
}

// NewRecordWriter seals records for w with key.
func NewRecordWriter(w io.Writer, key *[32]byte) *RecordWriter {
	return &RecordWriter{w: w, key: key}
}

// WriteRecord seals p as one record and writes it.
func (rw *RecordWriter) WriteRecord(p []byte) error {
	if len(p) > MaxRecord {
		return ErrRecordTooLarge
	}
	counterNonce(&rw.nonce, rw.n)
	rw.n++
	need := 4 + overhead + len(p)
	if cap(rw.buf) < need {
		rw.buf = make([]byte, 0, need)
	}
	b := binary.BigEndian.AppendUint32(rw.buf[:0], uint32(overhead+len(p)))
	b = append(b, rw.nonce[:]...)
	b = secretbox.Seal(b, p, &rw.nonce, rw.key)
	_, err := rw.w.Write(b)
	return err
}

// Write splits p into records of at most ChunkSize bytes.
func (rw *RecordWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), ChunkSize)
		if err := rw.WriteRecord(p[:c]); err != nil {
			return n, err
		}
		n, p = n+c, p[c:]
	}
	return n, nil
}

// RecordReader opens records and checks that each carries the next
// counter as its nonce, so records cannot be dropped, replayed or
// reordered.
type RecordReader struct {
	r     io.Reader
	max   uint32
	key   *[32]byte
	n     uint64
	buf   []byte
	plain []byte
	nonce [nonceSize]byte
}

// NewRecordReader opens records from r with key.
func NewRecordReader(r io.Reader, key *[32]byte) *RecordReader {
	return &RecordReader{r: r, key: key, max: MaxRecord}
}

// Limit lowers the largest record plaintext the reader accepts.
func (rr *RecordReader) Limit(n uint32) { rr.max = min(n, MaxRecord) }

// ReadRecord returns the next record's plaintext. It is valid until the
// next call.
func (rr *RecordReader) ReadRecord() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(rr.r, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("read record: %w", err)
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > rr.max+overhead {
		return nil, fmt.Errorf("read record: %d bytes announced, more than the %d allowed", size, rr.max+overhead)
	}
	if size < overhead {
		return nil, fmt.Errorf("read record: %d bytes is too short for a record", size)
	}
	if cap(rr.buf) < int(size) {
		rr.buf = make([]byte, size)
	}
	b := rr.buf[:size]
	if _, err := io.ReadFull(rr.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read record: %w", err)
	}
	counterNonce(&rr.nonce, rr.n)
	if [nonceSize]byte(b[:nonceSize]) != rr.nonce {
		return nil, fmt.Errorf("read record: nonce is not the expected counter %d", rr.n)
	}
	rr.n++
	out, ok := secretbox.Open(rr.plain[:0], b[nonceSize:], &rr.nonce, rr.key)
	if !ok {
		return nil, errors.New("read record: authentication failed")
	}
	rr.plain = out
	return out, nil
}

// Reader reads exactly size bytes of content from records, then reports
// io.EOF. A record that would go past size is an error: the sender sent
// more than it offered.
type Reader struct {
	rr   *RecordReader
	left int64
	pend []byte
}

// NewReader reads size bytes of content from rr.
func NewReader(rr *RecordReader, size int64) *Reader { return &Reader{rr: rr, left: size} }

func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pend) == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		rec, err := r.rr.ReadRecord()
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return 0, err
		}
		if int64(len(rec)) > r.left {
			return 0, errors.New("the sender sent more than it offered")
		}
		r.left -= int64(len(rec))
		r.pend = rec
	}
	n := copy(p, r.pend)
	r.pend = r.pend[n:]
	return n, nil
}
