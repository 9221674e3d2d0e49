package wormhole

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
)

const (
	nonceSize = 24
	keySize   = 32
)

// errDecrypt means a phase body did not open with the key we derived: the
// other side used a different code.
var errDecrypt = errors.New("message failed to decrypt")

// DeriveKey is the client protocol's KDF: HKDF-SHA256 with no salt and the
// purpose as info.
func DeriveKey(key []byte, purpose string, length int) []byte {
	out, err := hkdf.Key(sha256.New, key, nil, purpose, length)
	if err != nil {
		// Only an impossible length (over 255*32 bytes) gets here.
		panic(fmt.Sprintf("wormhole: hkdf of %d bytes: %v", length, err))
	}
	return out
}

// phaseKey is the key a side encrypts one phase's body with.
func phaseKey(key []byte, side, phase string) []byte {
	s := sha256.Sum256([]byte(side))
	p := sha256.Sum256([]byte(phase))
	purpose := "wormhole:phase:" + string(s[:]) + string(p[:])
	return DeriveKey(key, purpose, keySize)
}

// seal encrypts plaintext as nonce ‖ secretbox.
func seal(key, plaintext []byte) []byte {
	var k [keySize]byte
	copy(k[:], key)
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	return secretbox.Seal(nonce[:], plaintext, &nonce, &k)
}

// open checks the length before it slices, then decrypts nonce ‖ secretbox.
func open(key, body []byte) ([]byte, error) {
	if len(body) < nonceSize+secretbox.Overhead {
		return nil, fmt.Errorf("%w: body of %d bytes is too short", errDecrypt, len(body))
	}
	var k [keySize]byte
	copy(k[:], key)
	var nonce [nonceSize]byte
	copy(nonce[:], body[:nonceSize])
	out, ok := secretbox.Open(nil, body[nonceSize:], &nonce, &k)
	if !ok {
		return nil, errDecrypt
	}
	return out, nil
}
