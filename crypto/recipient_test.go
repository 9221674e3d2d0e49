package crypto

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// TestSealToInsidePeerStream layers a message for the recipient's key,
// signed by the sender, inside the PAKE-keyed peer stream, as ferry send
// --to/--sign will.
func TestSealToInsidePeerStream(t *testing.T) {
	alice, bob := mustKey(t, "alice", nil), mustKey(t, "bob", []byte("bob pw"))
	streamKey := bytes.Repeat([]byte{9}, 32)
	msg := bytes.Repeat([]byte("file "), 300000)

	var wire bytes.Buffer
	outer, err := Encrypt(&wire, streamKey)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := SealTo(outer, []*openpgp.Entity{bob}, alice)
	if err != nil {
		t.Fatal(err)
	}
	inner.Write(msg)
	if err := inner.Close(); err != nil {
		t.Fatal(err)
	}
	if err := outer.Close(); err != nil {
		t.Fatal(err)
	}
	bobsRing := openpgp.EntityList{bob, publicOnly(t, alice)}
	open := func(ring openpgp.EntityList, pw string) ([]byte, *Message, error) {
		o, err := Decrypt(bytes.NewReader(wire.Bytes()), streamKey)
		if err != nil {
			return nil, nil, err
		}
		m, err := OpenFrom(o, ring, func(*openpgp.Entity) ([]byte, error) { return []byte(pw), nil }, true, true)
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(m)
		return b, m, err
	}
	got, m, err := open(bobsRing, "bob pw")
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %v", err)
	}
	if s := m.Verification().Signer; s == nil || s.Fingerprint != fingerprint(alice) {
		t.Fatalf("signer %+v", s)
	}
	// Someone with the code but not bob's key cannot read it.
	if _, _, err := open(openpgp.EntityList{mustKey(t, "eve", nil)}, ""); !errors.Is(err, ErrNoKey) {
		t.Fatalf("eve: err = %v", err)
	}
	// Bob without alice's key in his keyring: unknown signer.
	if _, _, err := open(openpgp.EntityList{bob}, "bob pw"); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("unknown signer: err = %v", err)
	}
}

// publicOnly is e without its secret keys, as a keyring holds a peer's key.
func publicOnly(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return el[0]
}

// TestSignOnlyInsidePeerStream: --sign without --to. The inner message is
// signed, not encrypted; it opens only as such, and a flipped byte or an
// unknown signer fails at the end.
func TestSignOnlyInsidePeerStream(t *testing.T) {
	alice := mustKey(t, "alice", nil)
	msg := bytes.Repeat([]byte("signed "), 100000)
	var buf bytes.Buffer
	w, err := SealTo(&buf, nil, alice)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ring := openpgp.EntityList{publicOnly(t, alice)}
	open := func(b []byte, ring openpgp.EntityList, encrypted bool) ([]byte, *Message, error) {
		m, err := OpenFrom(bytes.NewReader(b), ring, nil, encrypted, true)
		if err != nil {
			return nil, nil, err
		}
		got, err := io.ReadAll(m)
		return got, m, err
	}
	got, m, err := open(buf.Bytes(), ring, false)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %v", err)
	}
	if s := m.Verification().Signer; s == nil || s.Fingerprint != fingerprint(alice) {
		t.Fatalf("signer %+v", s)
	}
	if _, _, err := open(buf.Bytes(), ring, true); !errors.Is(err, ErrNotEncryptedMsg) {
		t.Fatalf("opened as encrypted: err = %v", err)
	}
	if _, _, err := open(buf.Bytes(), openpgp.EntityList{mustKey(t, "eve", nil)}, false); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("unknown signer: err = %v", err)
	}
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)/2] ^= 1
	if _, _, err := open(bad, ring, false); err == nil {
		t.Fatal("a flipped byte went unnoticed")
	}
	if _, err := SealTo(&buf, nil, nil); err == nil {
		t.Fatal("a message with neither recipients nor signer was sealed")
	}
}
