// Package crypto is ferry's peer stream encryption: OpenPGP (RFC 9580)
// SEIPDv2 with AES-128-GCM in 256 KiB chunks and no compression, keyed from
// the PAKE key. Each chunk is authenticated before its plaintext is
// released, and the final tag catches truncation, so a reader sees an
// error rather than forged or missing data. Decrypt reads it with
// go-crypto; ReadStream, ferry's own strict reader of the same form, lets
// its caller open the chunks (the browser page uses WebCrypto).
package crypto

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// ChunkSize is the plaintext size of one authenticated chunk.
const ChunkSize = 256 << 10

// StreamKey derives the peer stream's 32-byte secret from the PAKE key. It
// is a high-entropy "passphrase" for OpenPGP's salted S2K.
func StreamKey(pakeKey []byte, purpose string) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, pakeKey, nil, "ferry/stream/v1/"+purpose, 32)
	if err != nil {
		return nil, fmt.Errorf("derive stream key: %w", err)
	}
	return k, nil
}

func config() *packet.Config {
	return &packet.Config{
		DefaultCipher:          packet.CipherAES128,
		DefaultCompressionAlgo: packet.CompressionNone,
		AEADConfig:             &packet.AEADConfig{DefaultMode: packet.AEADModeGCM, ChunkSize: ChunkSize},
		S2KConfig:              &s2k.Config{S2KMode: s2k.SaltedS2K, PassphraseIsHighEntropy: true},
	}
}

// Encrypt returns a writer whose plaintext is written to dst as one
// OpenPGP message; Close writes the final tag and must be called.
func Encrypt(dst io.Writer, key []byte) (io.WriteCloser, error) {
	w, err := openpgp.SymmetricallyEncrypt(dst, key, &openpgp.FileHints{IsBinary: true}, config())
	if err != nil {
		return nil, fmt.Errorf("start encrypted stream: %w", err)
	}
	return w, nil
}

// ErrNotEncrypted means the stream was a valid OpenPGP message that was not
// encrypted with the session key (a plain literal packet, say).
var ErrNotEncrypted = errors.New("peer stream is not encrypted")

// Decrypt returns the plaintext of the OpenPGP message in src, which must
// be in the form Encrypt writes (else ErrStreamForm). Reads fail
// if a chunk was tampered with, and the read that reaches the end fails if
// the stream was truncated: only io.EOF means everything was authentic.
func Decrypt(src io.Reader, key []byte) (io.Reader, error) {
	tried := false
	prompt := func([]openpgp.Key, bool) ([]byte, error) {
		if tried { // go-crypto asks again on failure; the key will not change
			return nil, errors.New("wrong stream key")
		}
		tried = true
		return key, nil
	}
	// Only the form Encrypt writes is read: no S2K but its one hash runs,
	// whatever the peer sends (an Argon2 one could ask for 2 TiB).
	src, err := scanKeyPackets(src, checkStream)
	if err != nil {
		return nil, fmt.Errorf("open encrypted stream: %w", err)
	}
	md, err := openpgp.ReadMessage(src, nil, prompt, config())
	if err != nil {
		return nil, fmt.Errorf("open encrypted stream: %w", err)
	}
	if !md.IsEncrypted || !md.IsSymmetricallyEncrypted {
		return nil, ErrNotEncrypted
	}
	return md.UnverifiedBody, nil
}
