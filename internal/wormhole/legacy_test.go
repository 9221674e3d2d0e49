package wormhole

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ferrydrop/ferry/internal/mailbox"
	"salsa.debian.org/vasudev/gospake2"
)

// origVector is an exchange with the original gospake2 (the SPAKE2 that
// wormhole-william links) in which it derived the legacy key: from
// ../gospake2/testdata/upstream_vectors.json, made with Debian's copy.
type origVector struct {
	Password, Identity, Entropy string
	OrigMsg                     string `json:"orig_msg"`
	OrigKey                     string `json:"orig_key"`
	LegacyKeyed                 bool   `json:"legacy_key"`
}

func legacyVector(t *testing.T) origVector {
	t.Helper()
	raw, err := os.ReadFile("../gospake2/testdata/upstream_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []origVector }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for _, v := range f.Vectors {
		if v.LegacyKeyed && v.Identity == AppID {
			return v
		}
	}
	t.Fatal("no vector with a legacy key")
	return origVector{}
}

// legacyPeer starts a ferry Wormhole with v's entropy and code, and a raw
// peer, bound as side, that has posted v's pake message from the original
// gospake2; the test sends the peer's version message.
func legacyPeer(t *testing.T, ctx context.Context, v origVector, side string) (*Wormhole, *mailbox.Client) {
	t.Helper()
	url := testServer(t)
	w, err := Dial(ctx, Config{RelayURL: url, Rand: bytes.NewReader(unhex(t, v.Entropy))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(context.Background(), Happy) })
	if err := w.UseCode(ctx, v.Password); err != nil {
		t.Fatal(err)
	}
	nameplate, _ := ParseCode(v.Password)
	peer := rawPeerSide(t, ctx, url, nameplate, side)
	pake, _ := json.Marshal(map[string]string{"pake_v1": v.OrigMsg})
	if err := peer.Add(ctx, "pake", pake); err != nil {
		t.Fatal(err)
	}
	return w, peer
}

// TestLegacyPeer: a peer that derived the original gospake2's key (its pake
// and key replayed from a vector) gets a working wormhole, whichever side id
// is lower; ferry finds the key from the peer's version message.
func TestLegacyPeer(t *testing.T) {
	v := legacyVector(t)
	origKey := unhex(t, v.OrigKey)
	for _, peerSide := range []string{"0000000000", "ffffffffff"} {
		t.Run(peerSide, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			w, peer := legacyPeer(t, ctx, v, peerSide)
			// as wormhole-william does: its version as soon as it has the key
			ver := []byte(`{"app_versions":{}}`)
			if err := peer.Add(ctx, "version", seal(phaseKey(origKey, peerSide, "version"), ver)); err != nil {
				t.Fatal(err)
			}
			if err := w.Establish(ctx); err != nil {
				t.Fatalf("Establish: %v", err)
			}
			if !bytes.Equal(w.Verifier(), DeriveKey(origKey, "wormhole:verifier", 32)) {
				t.Error("the verifier is not the legacy key's")
			}
			// ferry's own version message and phases open with the legacy key
			for want := "version"; ; {
				m, err := peer.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if m.Side != w.side || m.Phase != want {
					continue
				}
				if _, err := open(phaseKey(origKey, w.side, want), m.Body); err != nil {
					t.Fatalf("ferry's %s message does not open with the legacy key: %v", want, err)
				}
				if want == "0" {
					break
				}
				if err := w.Send(ctx, []byte("hello")); err != nil {
					t.Fatal(err)
				}
				want = "0"
			}
		})
	}
}

// TestLegacyWrongKey: a version sealed with neither key is a wrong code.
func TestLegacyWrongKey(t *testing.T) {
	v := legacyVector(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w, peer := legacyPeer(t, ctx, v, "0000000000")
	other := bytes.Repeat([]byte{7}, 32)
	if err := peer.Add(ctx, "version", seal(phaseKey(other, "0000000000", "version"), []byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if err := w.Establish(ctx); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("Establish = %v, want ErrWrongCode", err)
	}
	// ferry still sends its own version, or a peer that waits for it (a
	// ferry in the same position, or any client) would wait for ever.
	for {
		m, err := peer.Next(ctx)
		if err != nil {
			t.Fatalf("ferry sent no version message after the wrong code: %v", err)
		}
		if m.Side == w.side && m.Phase == "version" {
			break
		}
	}
}

// TestLegacyBothFerry: when K encodes short, two ferries both hold a
// legacy key and both wait for the other's version; the one with the
// lower side id stops waiting, and they agree on the correct key.
func TestLegacyBothFerry(t *testing.T) {
	const code = "5-guitarist-revenge"
	entropy := func(i int) []byte {
		e := make([]byte, 64)
		e[0], e[1], e[63] = byte(i), byte(i>>8), 0xa5
		return e
	}
	// find two entropies whose exchange has a legacy key (1 in 256)
	ea, eb := entropy(0), []byte(nil)
	for i := 1; eb == nil; i++ {
		a := gospake2.SPAKE2Symmetric(gospake2.NewPassword(code), gospake2.NewIdentityS(AppID))
		b := gospake2.SPAKE2Symmetric(gospake2.NewPassword(code), gospake2.NewIdentityS(AppID))
		a.StartWithEntropy(bytes.NewReader(ea))
		mb, _ := b.StartWithEntropy(bytes.NewReader(entropy(i)))
		if _, err := a.Finish(mb); err != nil {
			t.Fatal(err)
		}
		if a.LegacyKey() != nil {
			eb = entropy(i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := testServer(t)
	ws := make([]*Wormhole, 2)
	for i, e := range [][]byte{ea, eb} {
		w, err := Dial(ctx, Config{RelayURL: url, Rand: bytes.NewReader(e)})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(ctx, Happy)
		if err := w.UseCode(ctx, code); err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.Establish(ctx) }()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if !bytes.Equal(ws[0].key, ws[1].key) {
		t.Fatal("the two ferries hold different keys")
	}
}
