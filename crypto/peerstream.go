package crypto

// ReadStream is ferry's own reader of the peer stream, for exactly the form
// Encrypt writes (RFC 9580): a v6 SKESK (5.3) with a salted SHA-256 S2K and
// AES-128-GCM, then a SEIPDv2 packet (5.13.2) with AES-128-GCM in 256 KiB
// chunks holding one binary literal packet (5.9) with no name and no date.
// go-crypto's reader opens every chunk itself with Go's AES; this one takes
// the chunks' AEAD from its caller, so a browser can open them with
// WebCrypto's hardware AES, several at a time.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opener opens one AES-128-GCM message: a 12-byte nonce, and the
// ciphertext with its 16-byte tag at the end. It returns the plaintext
// (appended to dst) only if the tag authenticated it. A cipher.AEAD is one.
type Opener interface {
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// StreamOptions say how ReadStream opens the chunks.
type StreamOptions struct {
	// NewOpener returns AES-128-GCM under the 16-byte message key; nil
	// means Go's crypto/cipher.
	NewOpener func(key []byte) (Opener, error)
	// Ahead is how many chunks may be being opened at once, each in its
	// own goroutine, ahead of the reader (at most MaxAhead); 0 or 1 opens
	// one at a time, inside Read.
	Ahead int
}

// MaxAhead caps StreamOptions.Ahead: each chunk in flight holds a buffer
// of ChunkSize and a little more.
const MaxAhead = 16

// ErrStreamDamaged means a chunk or the end of the peer stream did not
// authenticate: it was tampered with, cut short, or sent with another key.
var ErrStreamDamaged = errors.New("the peer stream was damaged or tampered with")

// The fixed parts of the form Encrypt writes.
const (
	tagLen       = 16
	skeskLen     = 61                      // header 2, body 59 (see streamSKESK)
	seipdTag     = 0xD2                    // new-format header of packet type 18
	literalTag   = 0xCB                    // new-format header of packet type 11
	chunkByte    = 12                      // 2^(12+6) = ChunkSize
	minFirstPart = 512                     // RFC 9580 4.2.1.4: the first partial length
	gcmNonceLen  = 12                      // of which the last 8 are the chunk index
	aesKeyLen    = 16                      // AES-128
	seipdHeadLen = 4 + 32                  // version, cipher, mode, chunk size, salt
	literalHead  = "b\x00\x00\x00\x00\x00" // binary, no name, date 0
)

// skeskAD is the v6 SKESK's HKDF info and AEAD associated data: packet
// tag, version, cipher, AEAD mode.
var skeskAD = []byte{0xC3, 6, 7, 3}

// seipdAD is the SEIPDv2 chunks' HKDF info and associated data: packet
// tag, version, cipher, AEAD mode, chunk size.
var seipdAD = []byte{seipdTag, 2, 7, 3, chunkByte}

func goGCM(key []byte) (Opener, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// ReadStream returns the plaintext of the peer stream in src, which must
// be in the form Encrypt writes (else ErrStreamForm), keyed with key (from
// StreamKey). Like Decrypt's, its reads release only chunks that
// authenticated, and the read that reaches the end fails unless the
// stream's final tag proves nothing was cut off: only io.EOF means it was
// all there and authentic. It reads nothing from src past the encrypted
// data packet.
func ReadStream(src io.Reader, key []byte, opts StreamOptions) (io.Reader, error) {
	sessionKey, err := readSKESK(src, key)
	if err != nil {
		return nil, fmt.Errorf("open encrypted stream: %w", err)
	}
	newOpener := opts.NewOpener
	if newOpener == nil {
		newOpener = goGCM
	}
	cr, err := newChunkReader(src, sessionKey, newOpener, opts.Ahead)
	if err != nil {
		return nil, fmt.Errorf("open encrypted stream: %w", err)
	}
	lr := &literalReader{plain: cr, body: &bodyReader{r: cr, authentic: true}}
	if err := lr.start(); err != nil {
		cr.abandon()
		return nil, fmt.Errorf("open encrypted stream: %w", err)
	}
	return lr, nil
}

// readSKESK reads ferry's key packet and returns the session key in it.
func readSKESK(src io.Reader, key []byte) ([]byte, error) {
	var p [skeskLen]byte
	if _, err := io.ReadFull(src, p[:1]); err != nil {
		return nil, truncated(err, "before its key packet")
	}
	if t := packetType(p[0]); t == 11 || t == 8 || t == 4 { // literal, compressed, one-pass signature
		return nil, ErrNotEncrypted
	}
	if !bytes.HasPrefix(streamSKESK, p[:1]) {
		return nil, fmt.Errorf("%w: its first packet is not ferry's key packet", ErrStreamForm)
	}
	if _, err := io.ReadFull(src, p[1:]); err != nil {
		return nil, truncated(err, "in its key packet")
	}
	if !bytes.HasPrefix(p[:], streamSKESK) {
		return nil, fmt.Errorf("%w: its first packet is not ferry's key packet", ErrStreamForm)
	}
	salt, iv, sealed := p[9:17], p[17:29], p[29:]
	// Salted S2K: SHA-256 of the salt and the "passphrase", cut to the
	// key size; then HKDF to the key-encryption key.
	h := sha256.New()
	h.Write(salt)
	h.Write(key)
	kek, err := hkdf.Key(sha256.New, h.Sum(nil)[:aesKeyLen], nil, string(skeskAD), aesKeyLen)
	if err != nil {
		return nil, err
	}
	g, err := goGCM(kek)
	if err != nil {
		return nil, err
	}
	sk, err := g.Open(nil, iv, sealed, skeskAD)
	if err != nil {
		return nil, fmt.Errorf("%w: its key packet does not open with this key", ErrStreamDamaged)
	}
	return sk, nil
}

// packetType is the type of the packet whose header starts with b.
func packetType(b byte) byte {
	if b&0x40 != 0 {
		return b & 0x3F
	}
	return b >> 2 & 0x0F
}

// truncated describes a read of src that stopped at err where the stream
// had to go on: the source's own error, or ErrStreamDamaged when it
// simply ended.
func truncated(err error, where string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the stream ends %s (%w)", ErrStreamDamaged, where, io.ErrUnexpectedEOF)
	}
	return err
}

// bodyReader reads the body of one new-format packet whose header byte
// was read: its length octets, then the body, following partial lengths
// (RFC 9580 4.2.1). It returns io.EOF only at the body's end.
type bodyReader struct {
	r       io.Reader
	left    int64 // bytes left in the current part
	last    bool  // the current part is the last one
	started bool  // the first length was read
	// authentic: r is authenticated plaintext, so a packet it cuts short
	// is the sender's doing (ErrStreamForm), not a damaged stream.
	authentic bool
	err       error // sticky
}

// short is the error for a packet that r ended inside of.
func (b *bodyReader) short(err error) error {
	if b.authentic && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the encrypted data ends inside its literal packet", ErrStreamForm)
	}
	return truncated(err, "inside a packet")
}

func (b *bodyReader) Read(p []byte) (int, error) {
	for b.left == 0 {
		switch {
		case b.err != nil:
			return 0, b.err
		case b.last:
			b.err = io.EOF
			return 0, io.EOF
		}
		b.err = b.next()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		if b.left == 0 && b.last {
			err = nil // the next Read says io.EOF
		} else {
			err = b.short(err)
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// next reads the length of the next part.
func (b *bodyReader) next() error {
	var l [4]byte
	if _, err := io.ReadFull(b.r, l[:1]); err != nil {
		return b.short(err)
	}
	first := !b.started
	b.started = true
	switch c := l[0]; {
	case c < 192:
		b.left, b.last = int64(c), true
	case c < 224:
		if _, err := io.ReadFull(b.r, l[1:2]); err != nil {
			return b.short(err)
		}
		b.left, b.last = int64(c-192)<<8+int64(l[1])+192, true
	case c == 255:
		if _, err := io.ReadFull(b.r, l[:]); err != nil {
			return b.short(err)
		}
		b.left, b.last = int64(binary.BigEndian.Uint32(l[:])), true
	default:
		b.left = 1 << (c & 0x1F)
		if first && b.left < minFirstPart {
			return fmt.Errorf("%w: a packet's first partial length is %d bytes, under %d", ErrStreamForm, b.left, minFirstPart)
		}
	}
	return nil
}

// literalReader is the plaintext: the body of the one literal packet the
// encrypted data holds, after which it must end.
type literalReader struct {
	plain *chunkReader
	body  *bodyReader
	err   error
}

// start reads the literal packet's header: it must be Encrypt's.
func (l *literalReader) start() error {
	var h [1 + len(literalHead)]byte
	if _, err := io.ReadFull(l.plain, h[:1]); err == io.EOF {
		return fmt.Errorf("%w: the encrypted data holds no literal packet", ErrStreamForm)
	} else if err != nil {
		return err
	}
	if h[0] != literalTag {
		return fmt.Errorf("%w: the encrypted data does not hold a literal packet (header %#02x)", ErrStreamForm, h[0])
	}
	if _, err := io.ReadFull(l.body, h[1:]); err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the literal packet is shorter than its header", ErrStreamForm)
	} else if err != nil {
		return err
	}
	if string(h[1:]) != literalHead {
		return fmt.Errorf("%w: the literal packet is not binary data without a name and date", ErrStreamForm)
	}
	return nil
}

func (l *literalReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.body.Read(p)
	if err == io.EOF {
		// The literal packet is over; so must the plaintext be, and the
		// final tag must check out.
		var b [1]byte
		switch m, perr := io.ReadFull(l.plain, b[:]); {
		case m > 0:
			err = fmt.Errorf("%w: data after the literal packet", ErrStreamForm)
		case perr != io.EOF:
			err = perr
		}
	}
	if err != nil {
		l.err = err
		if err != io.EOF {
			l.plain.abandon()
		}
	}
	return n, err
}
