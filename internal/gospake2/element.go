package gospake2

import (
	"math/big"

	"filippo.io/edwards25519"
)

// symmetricElement is python-spake2's S = arbitrary_element(b"symmetric"):
// a point nobody knows the discrete log of.
func symmetricElement() *edwards25519.Point {
	return arbitraryElement([]byte("symmetric"))
}

// fieldPrime is 2^255 - 19.
func fieldPrime() *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), 255)
	return p.Sub(p, big.NewInt(19))
}

// arbitraryElement hashes seed to an integer y (48 bytes of
// HKDF(seed, "SPAKE2 arbitrary element"), big-endian, mod p), then tries
// y, y+1, … until (x, y) with x even is on the curve and 8·(x, y) is not
// the identity, and returns 8·(x, y).
func arbitraryElement(seed []byte) *edwards25519.Point {
	p := fieldPrime()
	y := new(big.Int).SetBytes(expand(seed, "SPAKE2 arbitrary element", 32+16))
	y.Mod(y, p)
	one := big.NewInt(1)
	for ; ; y.Add(y, one).Mod(y, p) {
		// Encoding: y little-endian, top bit = x's parity (0: even x).
		var enc [32]byte
		y.FillBytes(enc[:])
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			enc[i], enc[j] = enc[j], enc[i]
		}
		P, err := new(edwards25519.Point).SetBytes(enc[:])
		if err != nil {
			continue // not on the curve
		}
		P8 := new(edwards25519.Point).MultByCofactor(P)
		if P8.Equal(edwards25519.NewIdentityPoint()) == 1 {
			continue
		}
		return P8
	}
}
