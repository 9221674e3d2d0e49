package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func newKey(t *testing.T, name, email string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestAddLoadFindDelete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	r := Open(dir)
	if el, err := r.Entities(); err != nil || len(el) != 0 {
		t.Fatalf("empty ring: %v %v", el, err)
	}
	alice, bob := newKey(t, "Alice", "alice@example.org"), newKey(t, "Bob", "Bob@Example.org")
	if err := r.Add(alice); err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	bob.Serialize(&pub)
	bobPub, err := ReadKeys(&pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(bobPub[0]); err != nil {
		t.Fatal(err)
	}
	// private files and folders
	for _, p := range []string{dir, filepath.Join(dir, "secret"), filepath.Join(dir, "secret", Fingerprint(alice)+".pgp"), filepath.Join(dir, "public", Fingerprint(bob)+".pgp")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, fi.Mode().Perm())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "secret", Fingerprint(bob)+".pgp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("public-only key has a secret file: %v", err)
	}
	el, err := r.Entities()
	if err != nil || len(el) != 2 {
		t.Fatalf("load: %d keys, %v", len(el), err)
	}
	for _, e := range el {
		if (Fingerprint(e) == Fingerprint(alice)) != HasSecret(e) {
			t.Errorf("%s: HasSecret = %v", Fingerprint(e), HasSecret(e))
		}
	}
	fpr := Fingerprint(bob)
	sub := bob.Subkeys[0].PublicKey
	for _, q := range []string{"bob@example.org", "<BOB@example.org>", fpr, "0x" + fpr[24:], fpr[24:], Fingerprint(&openpgp.Entity{PrimaryKey: sub})} {
		if f := Find(el, q); len(f) != 1 || Fingerprint(f[0]) != fpr {
			t.Errorf("Find(%q) = %d keys", q, len(f))
		}
	}
	for _, q := range []string{"bob", "example.org", fpr[:20], "", "@"} {
		if f := Find(el, q); len(f) != 0 {
			t.Errorf("Find(%q) = %d keys, want none", q, len(f))
		}
	}
	if err := r.Delete(fpr); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(fpr); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if el, _ := r.Entities(); len(el) != 1 {
		t.Fatalf("after delete: %d keys", len(el))
	}
}

func TestReadKeysArmoredBlocks(t *testing.T) {
	var buf bytes.Buffer
	for _, e := range []*openpgp.Entity{newKey(t, "A", "a@example.org"), newKey(t, "B", "b@example.org")} {
		w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
		e.Serialize(w)
		w.Close()
		buf.WriteString("\n")
	}
	el, err := ReadKeys(&buf)
	if err != nil || len(el) != 2 {
		t.Fatalf("%d keys, %v", len(el), err)
	}
	if _, err := ReadKeys(bytes.NewReader([]byte("hello"))); err == nil {
		t.Fatal("junk read as keys")
	}
	if _, err := ReadKeys(bytes.NewReader(make([]byte, MaxKeyFile+1))); err == nil {
		t.Fatal("huge file accepted")
	}
}
