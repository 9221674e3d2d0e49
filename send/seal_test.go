package send_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/ferrydrop/ferry/crypto"
	"github.com/ferrydrop/ferry/internal/keyring"
	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/internal/wormhole"
	"github.com/ferrydrop/ferry/send"
)

// TestSealedOfferHidesNames: with --to, what the offer carries in the clear
// (readable by anyone holding the code) names no file and no size; the
// sealed manifest opens, with bob's key, to the real one, signed by alice.
func TestSealedOfferHidesNames(t *testing.T) {
	ctx, url := setup(t)
	alice, err := crypto.GenerateKey("alice", "alice@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := crypto.GenerateKey("bob", "bob@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const name = "merger-plans-for-acme.pdf"
	body := bytes.Repeat([]byte("x"), 987654)
	if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
		t.Fatal(err)
	}
	go send.Files(ctx, send.FileOptions{
		Options:   send.Options{Relay: url, Code: "61-sealed-offer"},
		Transport: transfer.TransportTCP,
		To:        []*openpgp.Entity{bob},
		Signer:    alice,
	}, []string{filepath.Join(dir, name)})

	w, err := wormhole.Dial(ctx, wormhole.Config{RelayURL: url, AppVersions: transfer.Versions()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx, wormhole.Happy)
	if err := w.UseCode(ctx, "61-sealed-offer"); err != nil {
		t.Fatal(err)
	}
	if err := w.Establish(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := w.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{name, "merger", "987654"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("the offer shows %q in the clear: %s", leak, raw)
		}
	}
	var e transfer.Envelope
	if err := json.Unmarshal(raw, &e); err != nil || e.Ferry == nil || e.Ferry.Offer == nil {
		t.Fatalf("not a ferry offer (%v): %s", err, raw)
	}
	offer := e.Ferry.Offer
	if s := offer.Sealed; s == nil || !s.Signed || len(s.To) != 1 || s.To[0] != keyring.Fingerprint(bob) || len(s.Manifest) == 0 {
		t.Fatalf("sealed = %+v", offer.Sealed)
	}
	msg, err := crypto.OpenFrom(bytes.NewReader(offer.Sealed.Manifest), openpgp.EntityList{bob, alice}, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(msg)
	if err != nil {
		t.Fatalf("the sealed manifest does not verify: %v", err)
	}
	if v := msg.Verification(); v == nil || v.Signer == nil || v.Signer.Fingerprint != keyring.Fingerprint(alice) {
		t.Fatalf("sealed manifest signed by %+v, want alice", v)
	}
	var man transfer.Manifest
	if err := json.Unmarshal(plain, &man); err != nil {
		t.Fatal(err)
	}
	if man.Files != 1 || man.Bytes != int64(len(body)) || len(man.Entries) != 1 || man.Entries[0].Name != name {
		t.Fatalf("sealed manifest = %+v", man)
	}
	if err := man.Check(); err != nil {
		t.Fatal(err)
	}
}
