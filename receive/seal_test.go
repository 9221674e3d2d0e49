package receive_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/keyring"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
)

// content is the file every sealed sender sends: large enough that a
// byte flipped in the middle of the message lands in it.
var content = strings.Repeat("sealed content ", 4096)

func genKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := crypto.GenerateKey(name, name+"@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// public is e as someone else's keyring holds it: no secret keys.
func public(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
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

// sealedTar is a tar of one file, sealed to `to` and signed by signer
// (either may be empty), as ferry send --to/--sign writes it; flip
// changes one byte of the sealed message.
func sealedTar(t *testing.T, to []*openpgp.Entity, signer *openpgp.Entity, flip bool) func(io.Writer) {
	t.Helper()
	var tb bytes.Buffer
	tarOf(tarEntry{name: "f", body: content, typ: '0'})(&tb)
	b := sealedBytes(t, tb.Bytes(), to, signer)
	if flip { // in the middle of the file's content, which tar cannot check
		b[len(b)/2] ^= 0x10
	}
	return func(w io.Writer) { w.Write(b) }
}

// sealedManifest is man's JSON sealed to `to` and signed by signer, as
// ferry send --to puts it in the offer; flip changes one byte of it.
func sealedManifest(t *testing.T, man transfer.Manifest, to []*openpgp.Entity, signer *openpgp.Entity, flip bool) []byte {
	t.Helper()
	plain, err := json.Marshal(man)
	if err != nil {
		t.Fatal(err)
	}
	b := sealedBytes(t, plain, to, signer)
	if flip {
		b[len(b)/2] ^= 0x10
	}
	return b
}

// sealedBytes is plain sealed to `to` and signed by signer.
func sealedBytes(t *testing.T, plain []byte, to []*openpgp.Entity, signer *openpgp.Entity) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := crypto.SealTo(&buf, to, signer)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestSealedSenders runs senders of sealed transfers against the real
// receiver, which holds bob's secret key and alice's public key: the
// honest one lands and names alice; every lie or forgery is refused with
// nothing in --out.
func TestSealedSenders(t *testing.T) {
	alice, bob, eve, carol := genKey(t, "alice"), genKey(t, "bob"), genKey(t, "eve"), genKey(t, "carol")
	bobFpr := keyring.Fingerprint(bob)
	man := one("f", int64(len(content)))
	bobs := []*openpgp.Entity{bob}
	// sealed to bob and signed by alice; the manifest as given
	toBob := func(m []byte) *transfer.Sealed {
		return &transfer.Sealed{To: []string{bobFpr}, Signed: true, Manifest: m}
	}
	bobMan := sealedManifest(t, man, bobs, alice, false)
	var none transfer.Manifest // what a sealed offer shows in the clear
	cases := map[string]struct {
		h    hostile
		want error // nil: it must land
	}{
		"honest":                {h: hostile{man: none, sealed: toBob(bobMan), body: sealedTar(t, bobs, alice, false)}},
		"signed only":           {h: hostile{man: man, sealed: &transfer.Sealed{Signed: true}, body: sealedTar(t, nil, alice, false)}},
		"flipped inner byte":    {h: hostile{man: none, sealed: toBob(bobMan), body: sealedTar(t, bobs, alice, true)}, want: crypto.ErrDamaged},
		"bad signature":         {h: hostile{man: man, sealed: &transfer.Sealed{Signed: true}, body: sealedTar(t, nil, alice, true)}, want: crypto.ErrBadSignature},
		"unknown signer":        {h: hostile{man: none, sealed: toBob(bobMan), body: sealedTar(t, bobs, eve, false)}, want: crypto.ErrUnknownSigner},
		"claims signed, isn't":  {h: hostile{man: none, sealed: toBob(bobMan), body: sealedTar(t, bobs, nil, false)}, want: crypto.ErrNotSigned},
		"claims sealed, plain":  {h: hostile{man: none, sealed: toBob(bobMan), body: tarOf(tarEntry{name: "f", body: content, typ: '0'})}, want: crypto.ErrNotOpenPGP},
		"sealed to eve":         {h: hostile{man: none, sealed: &transfer.Sealed{To: []string{keyring.Fingerprint(eve)}, Manifest: sealedManifest(t, man, []*openpgp.Entity{eve}, nil, false)}, body: sealedTar(t, []*openpgp.Entity{eve}, nil, false)}, want: crypto.ErrNoKey},
		"not to the named key":  {h: hostile{man: none, sealed: toBob(bobMan), body: sealedTar(t, []*openpgp.Entity{eve}, alice, false)}, want: crypto.ErrNoKey},
		"neither to nor signed": {h: hostile{man: man, sealed: &transfer.Sealed{}, body: sealedTar(t, nil, alice, false)}, want: errors.New("")},
		// the list of names: sealed like the files, or refused before any data
		"names in the clear":             {h: hostile{man: man, sealed: toBob(nil), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
		"names in both":                  {h: hostile{man: man, sealed: toBob(bobMan), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
		"names sealed, files not":        {h: hostile{man: none, sealed: &transfer.Sealed{Signed: true, Manifest: bobMan}, body: sealedTar(t, nil, alice, false)}, want: errors.New("")},
		"names flipped":                  {h: hostile{man: none, sealed: toBob(sealedManifest(t, man, bobs, alice, true)), body: sealedTar(t, bobs, alice, false)}, want: crypto.ErrDamaged},
		"names to eve":                   {h: hostile{man: none, sealed: toBob(sealedManifest(t, man, []*openpgp.Entity{eve}, alice, false)), body: sealedTar(t, bobs, alice, false)}, want: crypto.ErrNoKey},
		"names by eve":                   {h: hostile{man: none, sealed: toBob(sealedManifest(t, man, bobs, eve, false)), body: sealedTar(t, bobs, alice, false)}, want: crypto.ErrUnknownSigner},
		"names unsigned":                 {h: hostile{man: none, sealed: toBob(sealedManifest(t, man, bobs, nil, false)), body: sealedTar(t, bobs, alice, false)}, want: crypto.ErrNotSigned},
		"names understate":               {h: hostile{man: none, sealed: toBob(sealedManifest(t, one("f", 10), bobs, alice, false)), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
		"names not a manifest":           {h: hostile{man: none, sealed: toBob(sealedBytes(t, []byte("[1,2"), bobs, alice)), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
		"names by carol, files by alice": {h: hostile{man: none, sealed: toBob(sealedManifest(t, man, bobs, carol, false)), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
		"names too many bytes":           {h: hostile{man: none, sealed: toBob(sealedBytes(t, bytes.Repeat([]byte(" "), transfer.MaxSealedManifest+1), bobs, alice)), body: sealedTar(t, bobs, alice, false)}, want: errors.New("")},
	}
	ring := openpgp.EntityList{bob, public(t, alice), public(t, carol)}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			c.h.run(ctx, t, url, "41-sealed")
			var early *crypto.Signer // who signed the sealed list of names
			res, err := receive.Run(ctx, "41-sealed", receive.Options{
				Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
				Keys:     func() (openpgp.EntityList, error) { return ring, nil },
				OnSigner: func(s *crypto.Signer) { early = s },
			})
			if c.want == nil {
				if err != nil {
					t.Fatalf("honest sealed transfer refused: %v", err)
				}
				if c.h.sealed.Manifest != nil && (early == nil || early.Fingerprint != keyring.Fingerprint(alice)) {
					t.Fatalf("the sealed list of names was signed by %+v before the prompt, want alice", early)
				}
				if res.Signer == nil || res.Signer.Fingerprint != keyring.Fingerprint(alice) {
					t.Fatalf("signer = %+v, want alice", res.Signer)
				}
				if b, err := os.ReadFile(filepath.Join(out, "f")); err != nil || string(b) != content {
					t.Fatalf("landed %q, %v", b, err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if c.want.Error() != "" && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			t.Logf("refused: %v", err)
			nothingLanded(t, base)
		})
	}
}
