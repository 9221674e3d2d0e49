package crypto

// Passphrase stretching (S2K) is chosen by whoever wrote the message, and
// go-crypto runs it before anything is authenticated: an RFC 9580 Argon2
// S2K in a 100-byte message can ask for 2 TiB of memory and 255 passes.
// So the packets before the encrypted data are read here first, with
// go-crypto's own packet parser (the same framing ReadMessage will see),
// and checked before any key is derived; ReadMessage then reads the same
// bytes again.

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Caps on the stretching a passphrase message may ask for (ferry decrypt).
// GnuPG and Sequoia use iterated-and-salted S2K, whose largest count,
// 65011712 bytes hashed (sq's default; gpg calibrates up to it), costs
// well under a second, so it needs no cap of its own; Argon2 (RFC 9580)
// is capped. OpenPGP.js and go-crypto write 64 MiB and 3 passes.
const (
	// DefaultMaxArgon2Memory is the Argon2 memory a message may ask for
	// unless OpenOptions.MaxArgon2Memory says otherwise.
	DefaultMaxArgon2Memory = 256 << 20
	// MaxArgon2Memory is the most RFC 9580 can encode: 2^31 KiB.
	MaxArgon2Memory = 2 << 40
	// MaxArgon2Passes caps an Argon2 S2K's passes. All passphrase packets
	// together may ask for at most the work of one at both caps.
	MaxArgon2Passes = 10
	// MaxPassphrasePackets caps the passphrase packets (SKESKs) a message
	// may have: each is tried with the passphrase in turn.
	MaxPassphrasePackets = 8
	// maxKeyPackets caps the bytes before the encrypted data (recipients,
	// passphrase packets, markers): about 5000 recipients.
	maxKeyPackets = 1 << 20
)

// ErrS2KLimit means a message asks for more passphrase stretching than
// the caps allow; nothing was derived. The error is an *S2KLimitError.
var ErrS2KLimit = errors.New("refused before deriving the key")

// S2KLimitError tells which cap a message's passphrase packets exceed.
type S2KLimitError struct {
	Reason string
	// Memory is set when a larger OpenOptions.MaxArgon2Memory would
	// admit the message.
	Memory bool
}

func (e *S2KLimitError) Error() string { return e.Reason + ": " + ErrS2KLimit.Error() }

func (e *S2KLimitError) Is(target error) bool { return target == ErrS2KLimit }

func limitErr(memory bool, format string, a ...any) error {
	return &S2KLimitError{Reason: fmt.Sprintf(format, a...), Memory: memory}
}

// ErrStreamForm means the peer stream does not start the way ferry's
// does; nothing was derived.
var ErrStreamForm = errors.New("the peer stream is not in ferry's form")

// scanned is one packet read ahead, with its bytes as go-crypto framed
// them.
type scanned struct {
	p   packet.Packet
	err error
	raw []byte
}

// recorder keeps what is read through it, up to max bytes.
type recorder struct {
	r    io.Reader
	buf  bytes.Buffer
	max  int
	full bool
	err  error // the first error of r but io.EOF
}

var errKeyPacketsTooLong = fmt.Errorf("%w: more than %d KiB of packets before the encrypted data", ErrNotOpenPGP, maxKeyPackets>>10)

func (rc *recorder) Read(p []byte) (int, error) {
	room := rc.max - rc.buf.Len()
	if room <= 0 {
		rc.full = true
		return 0, errKeyPacketsTooLong
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := rc.r.Read(p)
	rc.buf.Write(p[:n])
	if err != nil && err != io.EOF && rc.err == nil {
		rc.err = err
	}
	return n, err
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// scanKeyPackets reads the packets of the message in r up to its encrypted
// data (or its first packet of an unencrypted one), as ReadMessage will,
// and calls check on each before anything derives a key; check returns
// done to stop early. It returns a reader of the whole message again.
func scanKeyPackets(r io.Reader, check func(i int, s scanned) (done bool, err error)) (io.Reader, error) {
	rec := &recorder{r: r, max: maxKeyPackets}
	for i := 0; ; i++ {
		start := rec.buf.Len()
		p, err := packet.Read(rec)
		switch {
		case rec.full:
			return nil, errKeyPacketsTooLong
		case rec.err != nil:
			// The source failed, not the message: ReadMessage sees the
			// same bytes and then the same error, and reports it.
			return io.MultiReader(bytes.NewReader(rec.buf.Bytes()), errReader{rec.err}), nil
		}
		if err == io.EOF {
			break
		}
		done, cerr := check(i, scanned{p: p, err: err, raw: rec.buf.Bytes()[start:]})
		if cerr != nil {
			return nil, cerr
		}
		if done || stopsKeyPackets(p, err) {
			break
		}
	}
	return io.MultiReader(bytes.NewReader(rec.buf.Bytes()), r), nil
}

// stopsKeyPackets tells whether ReadMessage stops collecting key packets
// at this one: at the encrypted data, at an unencrypted message, or at an
// error its packet reader does not skip (see packet.Reader.Next).
func stopsKeyPackets(p packet.Packet, err error) bool {
	if err != nil {
		if _, ok := err.(pgperrors.UnknownPacketTypeError); ok {
			return false
		}
		if _, ok := err.(pgperrors.UnsupportedError); ok {
			switch p.(type) {
			case *packet.SymmetricallyEncrypted, *packet.AEADEncrypted, *packet.Compressed, *packet.LiteralData:
				return true
			}
			return false
		}
		return true
	}
	switch p.(type) {
	case *packet.SymmetricallyEncrypted, *packet.AEADEncrypted, *packet.Compressed, *packet.LiteralData, *packet.OnePassSignature:
		return true
	}
	return false
}

// s2kLimits checks every passphrase packet of a message against the caps.
type s2kLimits struct {
	maxMemory int64 // bytes
	packets   int
	work      int64 // KiB × passes of the Argon2 S2Ks so far
}

func (l *s2kLimits) check(_ int, s scanned) (bool, error) {
	if _, ok := s.p.(*packet.SymmetricKeyEncrypted); !ok || s.err != nil {
		return false, nil // go-crypto skips an SKESK it cannot parse
	}
	l.packets++
	if l.packets > MaxPassphrasePackets {
		return false, limitErr(false, "the message has more than %d passphrase packets", MaxPassphrasePackets)
	}
	spec, err := skeskS2K(s.raw)
	if err != nil {
		return false, limitErr(false, "%v", err)
	}
	if spec[0] != 4 { // simple, salted and iterated S2K cost under a second
		return false, nil
	}
	// The lanes (spec[18]) share the memory: they change neither the
	// memory nor the work.
	passes, exp := spec[17], spec[19]
	mem := int64(1) << exp // KiB
	if mem<<10 > l.maxMemory {
		return false, limitErr(true, "the passphrase needs Argon2 with %s of memory, more than the %s limit",
			sizeKiB(mem), sizeKiB(l.maxMemory>>10))
	}
	if passes > MaxArgon2Passes {
		return false, limitErr(false, "the passphrase needs Argon2 with %d passes, more than the %d limit", passes, MaxArgon2Passes)
	}
	l.work += mem * int64(passes)
	if l.work > (l.maxMemory>>10)*MaxArgon2Passes {
		return false, limitErr(true, "the passphrase packets together need more Argon2 work than %d passes over %s",
			MaxArgon2Passes, sizeKiB(l.maxMemory>>10))
	}
	return false, nil
}

// skeskS2K returns the S2K specifier of an SKESK packet (header included)
// that go-crypto parsed: mode 0, 1, 3 or 4 and its parameters.
func skeskS2K(raw []byte) ([]byte, error) {
	body, err := packetBody(raw)
	if err != nil {
		return nil, err
	}
	var at int
	switch {
	case len(body) < 1:
	case body[0] == 4:
		at = 2 // version, cipher
	case body[0] == 5:
		at = 3 // version, cipher, AEAD mode
	case body[0] == 6:
		at = 5 // version, count, cipher, AEAD mode, S2K length
	}
	if at == 0 || len(body) <= at {
		return nil, errors.New("a passphrase packet ferry cannot read")
	}
	size := map[byte]int{0: 2, 1: 10, 3: 11, 4: 20}[body[at]]
	if size == 0 || len(body) < at+size {
		return nil, fmt.Errorf("a passphrase packet with S2K type %d", body[at])
	}
	return body[at : at+size], nil
}

// packetBody strips an OpenPGP packet header. Key packets come whole: a
// partial-length one (allowed for data packets only) is refused.
func packetBody(raw []byte) ([]byte, error) {
	if len(raw) < 2 {
		return nil, errors.New("a short packet")
	}
	if raw[0]&0x40 == 0 { // old format: 1, 2, 4 or no length octets
		n := [4]int{1, 2, 4, 0}[raw[0]&3]
		if len(raw) < 1+n {
			return nil, errors.New("a short packet")
		}
		return raw[1+n:], nil
	}
	switch l := raw[1]; {
	case l < 192:
		return raw[2:], nil
	case l < 224:
		if len(raw) < 3 {
			return nil, errors.New("a short packet")
		}
		return raw[3:], nil
	case l == 255:
		if len(raw) < 6 {
			return nil, errors.New("a short packet")
		}
		return raw[6:], nil
	}
	return nil, errors.New("a passphrase packet in partial-length pieces")
}

// sizeKiB formats n KiB: 64 MiB, 2 TiB.
func sizeKiB(n int64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	i := 0
	for i < len(units)-1 && n >= 1024 && n%1024 == 0 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d %s", n, units[i])
}

// ferry's stream key packet: a v6 SKESK, 59 bytes long, AES-128, GCM, a
// 10-byte salted SHA-256 S2K (the key is high-entropy), then a 12-byte
// IV and the 32-byte encrypted session key with its tag.
var streamSKESK = []byte{0xC3, 59, 6, 25, byte(packet.CipherAES128), byte(packet.AEADModeGCM), 10, 1, 8}

// checkStream accepts only what Encrypt writes: that key packet, then
// SEIPDv2 with AES-128, GCM and ChunkSize chunks. Nothing else is
// parsed further, and no S2K but the one-hash salted one ever runs.
func checkStream(i int, s scanned) (bool, error) {
	if i == 0 {
		switch s.p.(type) {
		case *packet.LiteralData, *packet.Compressed, *packet.OnePassSignature:
			if s.err == nil {
				return true, ErrNotEncrypted
			}
		}
		if _, ok := s.p.(*packet.SymmetricKeyEncrypted); !ok || s.err != nil ||
			len(s.raw) != 61 || !bytes.HasPrefix(s.raw, streamSKESK) {
			return true, fmt.Errorf("%w: its first packet is not ferry's key packet", ErrStreamForm)
		}
		return false, nil
	}
	se, ok := s.p.(*packet.SymmetricallyEncrypted)
	if !ok || s.err != nil || se.Version != 2 || se.Cipher != packet.CipherAES128 ||
		se.Mode != packet.AEADModeGCM || 1<<(se.ChunkSizeByte+6) != ChunkSize {
		return true, fmt.Errorf("%w: the key packet is not followed by ferry's encrypted data", ErrStreamForm)
	}
	return true, nil
}
