package gospake2

import (
	"bytes"
	"crypto/sha256"
	"slices"
)

// wormhole-william, and the phone apps built on it, link the original
// salsa.debian.org/vasudev/gospake2 (0.2.1). Its Ed25519 encoder writes a
// point as the reversed big.Int.Bytes() of the point's little-endian
// encoding, which drops that encoding's trailing zero bytes. On the wire it
// pads its message back to 33 bytes, but when the shared point K encodes
// short (one exchange in 256), it hashes a transcript whose three
// elements are all cut to K's shortened length, and so derives a key that
// no correct SPAKE2 (python-spake2, this one) derives. The exchange then
// fails as if the code were wrong, between wormhole-william and the Python
// client too.

// LegacyKey returns, after Finish, the key the original gospake2 derives in
// this exchange when it differs from the one Finish returned, and nil when
// it does not (255 exchanges in 256). A Magic Wormhole client can try it
// when the peer's first encrypted message does not open with the key.
func (s *SPAKE2) LegacyKey() []byte { return slices.Clone(s.legacy) }

// legacyKey is the original gospake2's symmetric transcript hash when K's
// encoding has trailing zero bytes, or nil. The original orders its own
// element (peerMsg here, which it holds without the zero bytes it pads on
// the wire: the same order, and the same bytes once cut or padded to n) and
// ours with bytes.Compare.
func legacyKey(pwHash, idHash [32]byte, peerMsg, ours, k []byte) []byte {
	n := len(bytes.TrimRight(k, "\x00"))
	if n == len(k) {
		return nil
	}
	first, second := peerMsg, ours
	if bytes.Compare(first, second) >= 0 {
		first, second = second, first
	}
	h := sha256.New()
	h.Write(pwHash[:])
	h.Write(idHash[:])
	h.Write(fit(first, n))
	h.Write(fit(second, n))
	h.Write(k[:n])
	return h.Sum(nil)
}

// fit cuts b to n bytes or pads it with zeros to n, as copy into a
// zeroed n-byte slot does.
func fit(b []byte, n int) []byte {
	out := make([]byte, n)
	copy(out, b)
	return out
}
