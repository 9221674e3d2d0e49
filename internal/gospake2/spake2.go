package gospake2

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/edwards25519"
)

// Password is the shared low-entropy secret (the wormhole code).
type Password []byte

// NewPassword makes a Password of a string.
func NewPassword(s string) Password { return Password(s) }

// IdentityS is the identity both sides of a symmetric exchange share (the
// wormhole appid).
type IdentityS []byte

// NewIdentityS makes an IdentityS of a string.
func NewIdentityS(s string) IdentityS { return IdentityS(s) }

// sideSymmetric prefixes every message of the symmetric mode.
const sideSymmetric = 'S'

// msgLen is the length of a message: the side byte and a point.
const msgLen = 33

// SPAKE2 is one side of a symmetric SPAKE2 exchange. Start and Finish may
// each be called once.
type SPAKE2 struct {
	pw       Password
	id       IdentityS
	pwScalar *edwards25519.Scalar
	blind    *edwards25519.Point // S, the symmetric blinding element
	x        *edwards25519.Scalar
	outbound []byte // our element, without the side byte
	legacy   []byte // see LegacyKey
	started  bool
	finished bool
}

// SPAKE2Symmetric starts an exchange in symmetric mode, where both sides
// run the same code.
func SPAKE2Symmetric(pw Password, id IdentityS) SPAKE2 {
	return SPAKE2{pw: slices.Clone(pw), id: slices.Clone(id), pwScalar: passwordToScalar(pw), blind: symmetricElement()}
}

// Start returns the message for the other side: 'S' followed by the
// 32-byte encoding of x·B + pw·S.
func (s *SPAKE2) Start() []byte {
	msg, err := s.StartWithEntropy(rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("gospake2: %v", err)) // crypto/rand does not fail
	}
	return msg
}

// StartWithEntropy is Start drawing its 64 random bytes from r, as
// python-spake2's entropy_f does; tests use it to reproduce vectors.
func (s *SPAKE2) StartWithEntropy(r io.Reader) ([]byte, error) {
	if s.started {
		return nil, errors.New("start called twice")
	}
	s.started = true
	var buf [64]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return nil, fmt.Errorf("read entropy: %w", err)
	}
	s.x = bigEndianScalar(buf[:])
	X := new(edwards25519.Point).ScalarBaseMult(s.x)
	X.Add(X, new(edwards25519.Point).ScalarMult(s.pwScalar, s.blind))
	s.outbound = X.Bytes()
	return append([]byte{sideSymmetric}, s.outbound...), nil
}

// Finish takes the other side's message and returns the 32-byte shared
// key. It fails on a malformed message, a point outside the prime-order
// group, or our own message reflected back.
func (s *SPAKE2) Finish(msg []byte) ([]byte, error) {
	if !s.started {
		return nil, errors.New("finish called before start")
	}
	if s.finished {
		return nil, errors.New("finish called twice")
	}
	s.finished = true
	if len(msg) != msgLen {
		return nil, fmt.Errorf("spake2 message is %d bytes, want %d", len(msg), msgLen)
	}
	if msg[0] != sideSymmetric {
		return nil, fmt.Errorf("spake2 message is from side %q, want the symmetric side", msg[0])
	}
	inbound := msg[1:]
	Y, err := decodeElement(inbound)
	if err != nil {
		return nil, err
	}
	if bytes.Equal(Y.Bytes(), s.outbound) {
		return nil, errors.New("spake2 message is our own, reflected back")
	}
	negPw := new(edwards25519.Scalar).Negate(s.pwScalar)
	K := new(edwards25519.Point).ScalarMult(negPw, s.blind)
	K.Add(K, Y)
	K.ScalarMult(s.x, K)

	first, second := inbound, s.outbound
	if bytes.Compare(first, second) > 0 {
		first, second = second, first
	}
	pwHash := sha256.Sum256(s.pw)
	idHash := sha256.Sum256(s.id)
	h := sha256.New()
	h.Write(pwHash[:])
	h.Write(idHash[:])
	h.Write(first)
	h.Write(second)
	h.Write(K.Bytes())
	s.legacy = legacyKey(pwHash, idHash, inbound, s.outbound, K.Bytes())
	return h.Sum(nil), nil
}

// decodeElement accepts only points of the prime-order subgroup, other
// than the identity, as python-spake2's bytes_to_element does.
func decodeElement(b []byte) (*edwards25519.Point, error) {
	P, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, fmt.Errorf("spake2 message is not a curve point: %w", err)
	}
	if P.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errors.New("spake2 message is the identity element")
	}
	// [L]P = [L-1]P + P is the identity exactly for the prime-order subgroup.
	minusOne := new(edwards25519.Scalar).Negate(scalarOne())
	LP := new(edwards25519.Point).ScalarMult(minusOne, P)
	LP.Add(LP, P)
	if LP.Equal(edwards25519.NewIdentityPoint()) != 1 {
		return nil, errors.New("spake2 message is not in the prime-order subgroup")
	}
	return P, nil
}

func scalarOne() *edwards25519.Scalar {
	var b [32]byte
	b[0] = 1
	s, _ := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
	return s
}

// expand is HKDF-SHA256 with an empty salt, as python-spake2 uses it.
func expand(secret []byte, info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, secret, nil, info, n)
	if err != nil {
		panic(fmt.Sprintf("gospake2: hkdf: %v", err)) // n is a small constant
	}
	return out
}

// bigEndianScalar reduces a big-endian integer of up to 64 bytes mod L.
func bigEndianScalar(be []byte) *edwards25519.Scalar {
	var le [64]byte
	for i, c := range be {
		le[len(be)-1-i] = c
	}
	s, err := new(edwards25519.Scalar).SetUniformBytes(le[:])
	if err != nil {
		panic(fmt.Sprintf("gospake2: %v", err)) // 64 bytes is always accepted
	}
	return s
}

// passwordToScalar is python-spake2's password_to_scalar: 48 bytes of
// HKDF(pw, "SPAKE2 pw") read big-endian, mod L.
func passwordToScalar(pw []byte) *edwards25519.Scalar {
	return bigEndianScalar(expand(pw, "SPAKE2 pw", 32+16))
}
