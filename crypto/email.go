package crypto

// Email attachments: OpenPGP messages in the forms GnuPG 2.2 and Sequoia
// 0.27 read (RFC 4880): v4 keys, SEIPDv1 (CFB + MDC) with AES-256, no
// compression, iterated-and-salted S2K for passphrases (not Argon2).

import (
	"bufio"
	stdcrypto "crypto"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// S2KCount is the iteration count of passphrase stretching (the largest
// RFC 4880 allows, as GnuPG calibrates to on current machines).
const S2KCount = 65011712

// emailConfig is the packet configuration of everything ferry writes for
// other OpenPGP tools.
func emailConfig() *packet.Config {
	return &packet.Config{
		DefaultCipher:          packet.CipherAES256,
		DefaultHash:            stdcrypto.SHA256,
		DefaultCompressionAlgo: packet.CompressionNone,
		S2KConfig:              &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: stdcrypto.SHA256, S2KCount: S2KCount},
		Algorithm:              packet.PubKeyAlgoEdDSA,
		Curve:                  packet.Curve25519,
	}
}

// GenerateKey makes a v4 key GnuPG 2.2 and Sequoia read: an Ed25519
// primary key for signing and certifying and a Curve25519 encryption
// subkey, with one user ID "name <email>". A non-empty passphrase protects
// the secret keys (the returned entity is then locked).
func GenerateKey(name, email string, passphrase []byte) (*openpgp.Entity, error) {
	if strings.ContainsAny(name, "()<>\x00") || strings.ContainsAny(email, "()<>\x00 ") {
		return nil, errors.New("generate key: name and email must not contain ( ) < > or NUL")
	}
	if name == "" && email == "" {
		return nil, errors.New("generate key: a name or an email is needed")
	}
	cfg := emailConfig()
	e, err := openpgp.NewEntity(name, "", email, cfg)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	if len(passphrase) > 0 {
		if err := e.EncryptPrivateKeys(passphrase, cfg); err != nil {
			return nil, fmt.Errorf("protect key: %w", err)
		}
	}
	return e, nil
}

// IsLocked reports whether e's signing or decryption secret key still
// needs its passphrase.
func IsLocked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

// ErrWrongPassphrase means a passphrase did not open a key or a message.
var ErrWrongPassphrase = errors.New("wrong passphrase")

// Unlock decrypts e's secret keys with passphrase.
func Unlock(e *openpgp.Entity, passphrase []byte) error {
	if err := e.DecryptPrivateKeys(passphrase); err != nil {
		return fmt.Errorf("unlock key: %w", ErrWrongPassphrase)
	}
	return nil
}

// SealOptions says whom a message is for and who signs it.
type SealOptions struct {
	// To are the recipients' keys; or else Passphrase encrypts. With
	// neither, the message is only signed (SignOnly must say so).
	To         []*openpgp.Entity
	Passphrase []byte
	// SignOnly writes a signed message that is not encrypted, for use
	// inside a stream that is (ferry send --sign without --to).
	SignOnly bool
	// Signer, when set, signs; its secret key must be unlocked.
	Signer *openpgp.Entity
	// Armor writes ASCII armor ("-----BEGIN PGP MESSAGE-----").
	Armor bool
	// FileName and ModTime go into the literal data packet.
	FileName string
	ModTime  time.Time
}

// Seal returns a writer that encrypts (and signs) what is written to it as
// one OpenPGP message on dst. Close finishes the message and must be
// called; it does not close dst. Memory use does not depend on the size.
func Seal(dst io.Writer, opts SealOptions) (io.WriteCloser, error) {
	switch {
	case opts.SignOnly && (len(opts.To) > 0 || opts.Passphrase != nil || opts.Signer == nil):
		return nil, errors.New("seal: a sign-only message has a signer and no recipients")
	case !opts.SignOnly && (len(opts.To) > 0) == (opts.Passphrase != nil):
		return nil, errors.New("seal: give either recipients or a passphrase")
	}
	if opts.Signer != nil && IsLocked(opts.Signer) {
		return nil, errors.New("seal: the signing key is locked")
	}
	cfg := emailConfig()
	var chain []io.Closer // closed last to first after the payload
	out := dst
	var flush *bufio.Writer
	if opts.Armor {
		flush = bufio.NewWriterSize(dst, 64<<10) // armor writes 64-byte lines
		// With the CRC-24 line (RFC 9580 drops it): GnuPG 2.2 reads the
		// END line as data when the last line has no "=" padding and no
		// CRC follows.
		aw, err := armor.Encode(flush, openpgp.MessageType, nil)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		chain = append(chain, aw)
		out = aw
	} else {
		flush = bufio.NewWriterSize(dst, 64<<10) // packets write small pieces
		out = flush
	}
	hints := &openpgp.FileHints{IsBinary: true, FileName: opts.FileName, ModTime: opts.ModTime}
	var payload io.WriteCloser
	if opts.SignOnly {
		w, err := openpgp.Sign(out, opts.Signer, hints, cfg)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		payload = w
	} else if len(opts.To) > 0 {
		w, err := openpgp.Encrypt(out, opts.To, opts.Signer, hints, cfg)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		payload = w
	} else {
		key, err := packet.SerializeSymmetricKeyEncrypted(out, opts.Passphrase, cfg)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		enc, err := packet.SerializeSymmetricallyEncrypted(out, cfg.Cipher(), false, packet.CipherSuite{}, key, cfg)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if opts.Signer != nil {
			// Sign leaves enc open: it is closed after the signature.
			chain = append(chain, enc)
			payload, err = openpgp.Sign(enc, opts.Signer, hints, cfg)
		} else {
			// Closing the literal packet closes enc (writes the MDC).
			payload, err = packet.SerializeLiteral(enc, true, hints.FileName, unixTime(opts.ModTime))
		}
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
	}
	return &sealWriter{payload: payload, chain: chain, flush: flush, armored: opts.Armor}, nil
}

func unixTime(t time.Time) uint32 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint32(t.Unix())
}

type sealWriter struct {
	payload io.WriteCloser
	chain   []io.Closer
	flush   *bufio.Writer
	armored bool
	closed  bool
}

func (s *sealWriter) Write(p []byte) (int, error) { return s.payload.Write(p) }

func (s *sealWriter) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.payload.Close(); err != nil {
		return fmt.Errorf("finish message: %w", err)
	}
	for i := len(s.chain) - 1; i >= 0; i-- {
		if err := s.chain[i].Close(); err != nil {
			return fmt.Errorf("finish message: %w", err)
		}
	}
	if s.armored {
		// End the END line, as GnuPG and Sequoia do.
		if _, err := s.flush.WriteString("\n"); err != nil {
			return fmt.Errorf("finish message: %w", err)
		}
	}
	if err := s.flush.Flush(); err != nil {
		return fmt.Errorf("finish message: %w", err)
	}
	return nil
}
