package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// chunkReader reads the SEIPDv2 packet and returns its plaintext, chunk
// by chunk, each only after it authenticated; io.EOF only after the final
// tag did. With ahead > 1 it reads up to ahead chunks from the packet
// and opens them at once, in goroutines, and returns them in order.
type chunkReader struct {
	body   *bodyReader
	opener Opener
	iv     [gcmNonceLen - 8]byte
	ahead  int

	index   uint64       // of the next chunk to read
	total   uint64       // plaintext bytes in the chunks read
	carry   [tagLen]byte // the last bytes read: maybe the final tag
	ended   bool         // the final tag is read and queued
	pending []*chunk     // read and being opened, in order
	free    [][]byte     // buffers to reuse
	cur     *chunk       // the chunk out is from
	out     []byte       // its plaintext not yet returned
	err     error        // sticky
}

// chunk is one chunk being opened (or the final tag: final is set).
type chunk struct {
	buf   []byte // ciphertext, opened in place
	data  []byte // its ciphertext, tag included
	nonce [gcmNonceLen]byte
	ad    []byte
	final bool
	plain []byte
	err   error
	done  chan struct{} // closed when plain or err is set (with ahead > 1)
}

// chunkBuf is a chunk with its tag and the next tagLen bytes (which tell
// whether this is the last chunk).
const chunkBuf = ChunkSize + 2*tagLen

func newChunkReader(src io.Reader, sessionKey []byte, newOpener func([]byte) (Opener, error), ahead int) (*chunkReader, error) {
	var h [1 + seipdHeadLen]byte
	if _, err := io.ReadFull(src, h[:1]); err != nil {
		return nil, truncated(err, "after its key packet")
	}
	if h[0] != seipdTag {
		return nil, fmt.Errorf("%w: the key packet is not followed by ferry's encrypted data", ErrStreamForm)
	}
	body := &bodyReader{r: src}
	if _, err := io.ReadFull(body, h[1:]); err != nil {
		return nil, truncated(err, "in its encrypted data's header")
	}
	if string(h[1:5]) != string(seipdAD[1:]) {
		return nil, fmt.Errorf("%w: the key packet is not followed by ferry's encrypted data", ErrStreamForm)
	}
	salt := h[5:]
	// HKDF gives the message key and the nonces' first 4 bytes.
	km, err := hkdf.Key(sha256.New, sessionKey, salt, string(seipdAD), aesKeyLen+gcmNonceLen-8)
	if err != nil {
		return nil, err
	}
	opener, err := newOpener(km[:aesKeyLen])
	if err != nil {
		return nil, fmt.Errorf("set up the stream's cipher: %w", err)
	}
	c := &chunkReader{body: body, opener: opener, ahead: min(max(ahead, 1), MaxAhead)}
	copy(c.iv[:], km[aesKeyLen:])
	// The first tagLen bytes: the data is at least a final tag long.
	if _, err := io.ReadFull(body, c.carry[:]); err != nil {
		return nil, truncated(err, "in its encrypted data")
	}
	return c, nil
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if c.cur != nil {
			c.free = append(c.free, c.cur.buf)
			c.cur = nil
		}
		c.err = c.nextChunk()
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// nextChunk waits for the next chunk in order and makes its plaintext
// c.out, reading and starting more first while it may. After the final
// tag it returns io.EOF.
func (c *chunkReader) nextChunk() error {
	for !c.ended && len(c.pending) < c.ahead && !c.headReady() {
		if err := c.readChunk(); err != nil {
			return err
		}
	}
	if len(c.pending) == 0 {
		return io.EOF // not reached: the final tag is queued last
	}
	k := c.pending[0]
	c.pending = c.pending[1:]
	if k.done != nil {
		<-k.done
	} else if k.final {
		k.open(c.opener)
	}
	switch {
	case k.err != nil && k.final:
		return fmt.Errorf("%w: its final tag does not check out (was it cut short?)", ErrStreamDamaged)
	case k.err != nil:
		return fmt.Errorf("%w: chunk %d does not authenticate", ErrStreamDamaged, binary.BigEndian.Uint64(k.nonce[4:]))
	case k.final:
		return io.EOF
	}
	c.cur, c.out = k, k.plain
	return nil
}

// headReady tells whether the oldest chunk in flight is open.
func (c *chunkReader) headReady() bool {
	if len(c.pending) == 0 || c.pending[0].done == nil {
		return false
	}
	select {
	case <-c.pending[0].done:
		return true
	default:
		return false
	}
}

// readChunk reads the next chunk (or the final tag) and starts opening it.
func (c *chunkReader) readChunk() error {
	var buf []byte
	if n := len(c.free); n > 0 {
		buf, c.free = c.free[n-1], c.free[:n-1]
	} else {
		buf = make([]byte, chunkBuf)
	}
	copy(buf, c.carry[:])
	n, err := io.ReadFull(c.body, buf[tagLen:])
	switch {
	case err == nil: // a whole chunk, and the start of what follows
		copy(c.carry[:], buf[ChunkSize+tagLen:])
		c.start(&chunk{buf: buf, data: buf[:ChunkSize+tagLen]})
		return nil
	case c.body.err != io.EOF:
		c.free = append(c.free, buf)
		return truncated(err, "inside its encrypted data")
	}
	// The packet ended: what came before its last tagLen bytes is the
	// last chunk, and those are the final tag.
	if n > 0 {
		copy(c.carry[:], buf[n:n+tagLen])
		c.start(&chunk{buf: buf, data: buf[:n]})
	} else {
		c.free = append(c.free, buf)
	}
	final := &chunk{data: append([]byte(nil), c.carry[:]...), final: true, ad: binary.BigEndian.AppendUint64(append([]byte(nil), seipdAD...), c.total)}
	c.start(final)
	c.ended = true
	return nil
}

// start queues k and opens it: now, or in a goroutine with ahead > 1;
// the final tag is opened when its turn comes.
func (c *chunkReader) start(k *chunk) {
	copy(k.nonce[:], c.iv[:])
	binary.BigEndian.PutUint64(k.nonce[len(c.iv):], c.index)
	c.pending = append(c.pending, k)
	if k.final {
		return
	}
	if len(k.data) >= tagLen {
		c.total += uint64(len(k.data) - tagLen)
	}
	c.index++
	k.ad = seipdAD
	if c.ahead <= 1 {
		k.open(c.opener)
		return
	}
	k.done = make(chan struct{})
	go func() {
		defer close(k.done)
		k.open(c.opener)
	}()
}

func (k *chunk) open(o Opener) {
	var dst []byte
	if k.buf != nil {
		dst = k.buf[:0]
	}
	k.plain, k.err = o.Open(dst, k.nonce[:], k.data, k.ad)
}

// abandon lets chunks still being opened finish on their own.
func (c *chunkReader) abandon() {
	c.pending, c.free, c.cur, c.out = nil, nil, nil, nil
	if c.err == nil {
		c.err = errAbandoned
	}
}

var errAbandoned = fmt.Errorf("%w: read after an error", ErrStreamDamaged)
