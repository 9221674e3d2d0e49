package gospake2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

type vectorFile struct {
	S       string `json:"S"`
	Vectors []struct {
		Password string `json:"password"`
		Identity string `json:"identity"`
		PwScalar string `json:"pw_scalar"`
		EntropyA string `json:"entropy_a"`
		EntropyB string `json:"entropy_b"`
		MsgA     string `json:"msg_a"`
		MsgB     string `json:"msg_b"`
		Key      string `json:"key"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return vf
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVectors reproduces, byte for byte, messages and keys that Debian's
// python3-spake2 0.8 made with fixed entropy (testdata/gen_vectors.py).
func TestVectors(t *testing.T) {
	vf := loadVectors(t)
	if got := hex.EncodeToString(symmetricElement().Bytes()); got != vf.S {
		t.Fatalf("S = %s, want %s", got, vf.S)
	}
	for i, v := range vf.Vectors {
		pw, id := unhex(t, v.Password), unhex(t, v.Identity)
		if got := hex.EncodeToString(passwordToScalar(pw).Bytes()); got != v.PwScalar {
			t.Errorf("%d: password scalar %s, want %s", i, got, v.PwScalar)
		}
		a := SPAKE2Symmetric(Password(pw), IdentityS(id))
		b := SPAKE2Symmetric(Password(pw), IdentityS(id))
		ma, err := a.StartWithEntropy(bytes.NewReader(unhex(t, v.EntropyA)))
		if err != nil {
			t.Fatal(err)
		}
		mb, err := b.StartWithEntropy(bytes.NewReader(unhex(t, v.EntropyB)))
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(ma) != v.MsgA || hex.EncodeToString(mb) != v.MsgB {
			t.Fatalf("%d: messages %x %x, want %s %s", i, ma, mb, v.MsgA, v.MsgB)
		}
		ka, err := a.Finish(mb)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := b.Finish(ma)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(ka) != v.Key || hex.EncodeToString(kb) != v.Key {
			t.Fatalf("%d: keys %x %x, want %s", i, ka, kb, v.Key)
		}
	}
}
