package crypto

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func mustKey(t testing.TB, name string, pass []byte) *openpgp.Entity {
	t.Helper()
	e, err := GenerateKey(name, name+"@example.org", pass)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func seal(t testing.TB, opts SealOptions, msg []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := Seal(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func open(src []byte, opts OpenOptions) ([]byte, *Message, error) {
	m, err := Open(bytes.NewReader(src), opts)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(m)
	return b, m, err
}

func TestSealOpenToKeySigned(t *testing.T) {
	alice := mustKey(t, "alice", nil)
	bob := mustKey(t, "bob", []byte("bob pass"))
	msg := bytes.Repeat([]byte("attachment "), 100000)
	for _, armor := range []bool{false, true} {
		ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}, Signer: alice, Armor: armor, FileName: "a.txt"}, msg)
		if armor != bytes.HasPrefix(ct, []byte("-----BEGIN PGP MESSAGE-----")) {
			t.Fatalf("armor=%v but message starts %q", armor, ct[:20])
		}
		asked := 0
		got, m, err := open(ct, OpenOptions{
			Keyring:       openpgp.EntityList{alice, bob},
			KeyPassphrase: func(e *openpgp.Entity) ([]byte, error) { asked++; return []byte("bob pass"), nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("plaintext differs")
		}
		v := m.Verification()
		if v == nil || !v.Signed || v.Err != nil || v.Signer == nil || v.Signer.Fingerprint != fingerprint(alice) || v.Signer.UserID != "alice <alice@example.org>" {
			t.Fatalf("verification %+v", v)
		}
		if m.FileName != "a.txt" {
			t.Fatalf("file name %q", m.FileName)
		}
		if armor && asked != 0 || !armor && asked != 1 { // unlocked after the first round
			t.Fatalf("asked for the key passphrase %d times", asked)
		}
	}
}

func TestOpenUnknownSignerFails(t *testing.T) {
	alice, bob := mustKey(t, "alice", nil), mustKey(t, "bob", nil)
	ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}, Signer: alice}, []byte("hi"))
	_, _, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{bob}})
	if !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("err = %v, want unknown signer", err)
	}
	got, m, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{bob}, NoVerify: true})
	if err != nil || string(got) != "hi" || !errors.Is(m.Verification().Err, ErrUnknownSigner) {
		t.Fatalf("NoVerify: %q %v", got, err)
	}
	// RequireSignature on an unsigned message
	ct = seal(t, SealOptions{To: []*openpgp.Entity{bob}}, []byte("hi"))
	if _, _, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{bob}, RequireSignature: true}); !errors.Is(err, ErrNotSigned) {
		t.Fatalf("err = %v, want not signed", err)
	}
}

func TestOpenBadSignature(t *testing.T) {
	alice, bob := mustKey(t, "alice", nil), mustKey(t, "bob", nil)
	// A key with alice's key ID but another public key: the signature
	// cannot verify.
	ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}, Signer: alice}, []byte("hi"))
	mallory := mustKey(t, "mallory", nil)
	fake := *mallory
	pk := *mallory.PrimaryKey
	pk.KeyId = alice.PrimaryKey.KeyId
	fake.PrimaryKey = &pk
	_, _, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{bob, &fake}})
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want bad signature", err)
	}
}

func TestSymmetricWrongPassphraseAskedOnce(t *testing.T) {
	ct := seal(t, SealOptions{Passphrase: []byte("right")}, []byte("secret"))
	for _, armor := range []bool{false, true} {
		_ = armor
		asked := 0
		_, _, err := open(ct, OpenOptions{Passphrase: func() ([]byte, error) { asked++; return []byte("wrong"), nil }})
		if !errors.Is(err, ErrWrongPassphrase) || asked != 1 {
			t.Fatalf("err = %v after %d prompts, want wrong passphrase after 1", err, asked)
		}
	}
	got, m, err := open(ct, OpenOptions{Passphrase: func() ([]byte, error) { return []byte("right"), nil }})
	if err != nil || string(got) != "secret" || !m.Symmetric || m.Verification().Signed {
		t.Fatalf("%q %v", got, err)
	}
}

func TestSymmetricSigned(t *testing.T) {
	alice := mustKey(t, "alice", nil)
	ct := seal(t, SealOptions{Passphrase: []byte("pw"), Signer: alice, Armor: true}, []byte("signed"))
	got, m, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{alice}, Passphrase: func() ([]byte, error) { return []byte("pw"), nil }})
	if err != nil || string(got) != "signed" || m.Verification().Signer == nil {
		t.Fatalf("%q %v %+v", got, err, m.Verification())
	}
}

func TestWrongKeyPassphrase(t *testing.T) {
	bob := mustKey(t, "bob", []byte("right"))
	ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}}, []byte("x"))
	asked := 0
	_, _, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{bob}, KeyPassphrase: func(*openpgp.Entity) ([]byte, error) { asked++; return []byte("wrong"), nil }})
	if !errors.Is(err, ErrWrongPassphrase) || asked != 1 {
		t.Fatalf("err = %v after %d prompts", err, asked)
	}
	if _, _, err := open(ct, OpenOptions{Keyring: openpgp.EntityList{mustKey(t, "carol", nil)}}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v, want no key", err)
	}
}

func TestTamperedFailsAtEnd(t *testing.T) {
	bob := mustKey(t, "bob", nil)
	msg := bytes.Repeat([]byte{7}, 200000)
	ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}}, msg)
	for _, off := range []int{len(ct) / 2, len(ct) - 5} {
		bad := bytes.Clone(ct)
		bad[off] ^= 1
		if _, _, err := open(bad, OpenOptions{Keyring: openpgp.EntityList{bob}}); !errors.Is(err, ErrDamaged) {
			t.Fatalf("flip at %d: err = %v, want damaged", off, err)
		}
	}
	if _, _, err := open(ct[:len(ct)-30], OpenOptions{Keyring: openpgp.EntityList{bob}}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("truncated: err = %v, want damaged", err)
	}
}

func TestDecompressionCapped(t *testing.T) {
	var buf bytes.Buffer
	cfg := emailConfig()
	cfg.DefaultCompressionAlgo = packet.CompressionZLIB
	cfg.CompressionConfig = &packet.CompressionConfig{Level: 9}
	w, err := openpgp.SymmetricallyEncrypt(&buf, []byte("pw"), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 48 {
		w.Write(zeros)
	}
	w.Close()
	pw := func() ([]byte, error) { return []byte("pw"), nil }
	if buf.Len() > 1<<20 {
		t.Fatalf("not compressed: %d bytes", buf.Len())
	}
	got, _, err := open(buf.Bytes(), OpenOptions{Passphrase: pw})
	if err != nil || len(got) != 48<<20 {
		t.Fatalf("default cap: %d bytes, %v", len(got), err)
	}
	if _, _, err := open(buf.Bytes(), OpenOptions{Passphrase: pw, MaxRatio: 100}); !errors.Is(err, ErrDecompressionLimit) {
		t.Fatalf("err = %v, want decompression limit", err)
	}
}

func TestOpenArmorEdges(t *testing.T) {
	bob := mustKey(t, "bob", nil)
	ct := seal(t, SealOptions{To: []*openpgp.Entity{bob}, Armor: true}, []byte("hi"))
	// Text before the armor (an email body) is skipped.
	withText := append([]byte("Hello Bob,\r\nthe file is below.\r\n\r\n"), ct...)
	if got, _, err := open(withText, OpenOptions{Keyring: openpgp.EntityList{bob}}); err != nil || string(got) != "hi" {
		t.Fatalf("leading text: %q %v", got, err)
	}
	// Endless armor headers are refused, not collected.
	endless := append([]byte("-----BEGIN PGP MESSAGE-----\nComment: "), bytes.Repeat([]byte("x"), 200<<10)...)
	if _, _, err := open(endless, OpenOptions{Keyring: openpgp.EntityList{bob}}); !errors.Is(err, ErrNotOpenPGP) {
		t.Fatalf("endless header: %v", err)
	}
	for _, junk := range []string{"hello", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxx\n", ""} {
		if _, _, err := open([]byte(junk), OpenOptions{Keyring: openpgp.EntityList{bob}}); !errors.Is(err, ErrNotOpenPGP) {
			t.Fatalf("%q: err = %v", junk, err)
		}
	}
}
