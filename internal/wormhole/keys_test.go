package wormhole

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestKeysMatchPython checks the KDFs and the secretbox body format against
// values Debian's magic-wormhole 0.12 produced (testdata/gen_keys.py).
func TestKeysMatchPython(t *testing.T) {
	raw, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var vecs []struct {
		Key        string `json:"key"`
		Side       string `json:"side"`
		Phase      string `json:"phase"`
		PhaseKey   string `json:"phase_key"`
		Verifier   string `json:"verifier"`
		TransitKey string `json:"transit_key"`
		Body       string `json:"body"`
		Plaintext  string `json:"plaintext"`
	}
	if err := json.Unmarshal(raw, &vecs); err != nil {
		t.Fatal(err)
	}
	if len(vecs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vecs {
		key := unhex(t, v.Key)
		if got := hex.EncodeToString(phaseKey(key, v.Side, v.Phase)); got != v.PhaseKey {
			t.Errorf("phase key (%q,%q) = %s, want %s", v.Side, v.Phase, got, v.PhaseKey)
		}
		if got := hex.EncodeToString(DeriveKey(key, "wormhole:verifier", 32)); got != v.Verifier {
			t.Errorf("verifier = %s, want %s", got, v.Verifier)
		}
		if got := hex.EncodeToString(DeriveKey(key, AppID+"/transit-key", 32)); got != v.TransitKey {
			t.Errorf("transit key = %s, want %s", got, v.TransitKey)
		}
		plain, err := open(unhex(t, v.PhaseKey), unhex(t, v.Body))
		if err != nil || string(plain) != v.Plaintext {
			t.Errorf("open python body: %q, %v", plain, err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	body := seal(key, []byte("hello"))
	if got, err := open(key, body); err != nil || string(got) != "hello" {
		t.Fatalf("round trip: %q, %v", got, err)
	}
	for _, n := range []int{0, 1, 23, 24, 39} {
		if _, err := open(key, make([]byte, n)); err == nil {
			t.Errorf("open of %d bytes succeeded", n)
		}
	}
	body[len(body)-1] ^= 1
	if _, err := open(key, body); err == nil {
		t.Error("tampered body opened")
	}
	other := bytes.Repeat([]byte{8}, 32)
	if _, err := open(other, seal(key, []byte("x"))); err == nil {
		t.Error("opened with the wrong key")
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
