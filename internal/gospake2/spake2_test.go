package gospake2

import (
	"bytes"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"
)

func pair(pw1, pw2 string) ([]byte, []byte, error, error) {
	a := SPAKE2Symmetric(NewPassword(pw1), NewIdentityS("app"))
	b := SPAKE2Symmetric(NewPassword(pw2), NewIdentityS("app"))
	ma, mb := a.Start(), b.Start()
	ka, erra := a.Finish(mb)
	kb, errb := b.Finish(ma)
	return ka, kb, erra, errb
}

func TestRoundTrip(t *testing.T) {
	ka, kb, ea, eb := pair("code", "code")
	if ea != nil || eb != nil || !bytes.Equal(ka, kb) || len(ka) != 32 {
		t.Fatalf("same password: %x %x %v %v", ka, kb, ea, eb)
	}
	ka, kb, ea, eb = pair("code", "cod3")
	if ea != nil || eb != nil || bytes.Equal(ka, kb) {
		t.Fatalf("different passwords agreed: %x %v %v", ka, ea, eb)
	}
}

func TestFinishRefuses(t *testing.T) {
	good := func() *SPAKE2 {
		s := SPAKE2Symmetric(NewPassword("pw"), NewIdentityS("id"))
		return &s
	}
	other := good().Start()
	identity := append([]byte{'S'}, edwards25519.NewIdentityPoint().Bytes()...)
	// a point of order 2 (x = 0, y = -1): on the curve, outside the subgroup
	order2, _ := hex.DecodeString("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	// the base point plus the order-2 point: order 2L
	P, _ := new(edwards25519.Point).SetBytes(order2)
	mixed := new(edwards25519.Point).Add(P, edwards25519.NewGeneratorPoint()).Bytes()
	notOnCurve := bytes.Repeat([]byte{0}, 32)
	notOnCurve[0] = 2 // y = 2 has no x on the curve
	cases := map[string][]byte{
		"empty":        nil,
		"short":        other[:32],
		"long":         append(append([]byte{}, other...), 0),
		"side A":       append([]byte{'A'}, other[1:]...),
		"side B":       append([]byte{'B'}, other[1:]...),
		"identity":     identity,
		"order 2":      append([]byte{'S'}, order2...),
		"order 2L":     append([]byte{'S'}, mixed...),
		"not on curve": append([]byte{'S'}, notOnCurve...),
	}
	for name, msg := range cases {
		s := good()
		s.Start()
		if _, err := s.Finish(msg); err == nil {
			t.Errorf("%s: Finish accepted it", name)
		}
	}
	s := good()
	own := s.Start()
	if _, err := s.Finish(own); err == nil {
		t.Error("reflected message accepted")
	}
	s = good()
	s.Start()
	if _, err := s.Finish(other); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(other); err == nil {
		t.Error("Finish ran twice")
	}
	s = good()
	if _, err := s.Finish(other); err == nil {
		t.Error("Finish before Start")
	}
	s = good()
	s.Start()
	if _, err := s.StartWithEntropy(bytes.NewReader(make([]byte, 64))); err == nil {
		t.Error("Start ran twice")
	}
}

func FuzzFinish(f *testing.F) {
	s := SPAKE2Symmetric(NewPassword("seed"), NewIdentityS("id"))
	f.Add(s.Start())
	f.Add([]byte("S"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		s := SPAKE2Symmetric(NewPassword("pw"), NewIdentityS("id"))
		s.Start()
		s.Finish(msg) // must not panic
	})
}
