package gospake2

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

type upstreamFile struct {
	Exchanges int `json:"exchanges"`
	Vectors   []struct {
		Password    string `json:"password"`
		Identity    string `json:"identity"`
		Entropy     string `json:"entropy"`
		OrigMsg     string `json:"orig_msg"`
		OrigKey     string `json:"orig_key"`
		ShortMsg    bool   `json:"short_msg"`
		LegacyKeyed bool   `json:"legacy_key"`
	} `json:"vectors"`
}

// checkUpstream replays exchanges with the original gospake2: each key it
// derived must be either ours or our LegacyKey, and LegacyKey must be nil
// exactly when it derived ours. It returns how many needed LegacyKey.
func checkUpstream(t *testing.T, raw []byte) (legacy int) {
	t.Helper()
	var uf upstreamFile
	if err := json.Unmarshal(raw, &uf); err != nil {
		t.Fatal(err)
	}
	if len(uf.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range uf.Vectors {
		s := SPAKE2Symmetric(NewPassword(v.Password), NewIdentityS(v.Identity))
		if _, err := s.StartWithEntropy(bytes.NewReader(unhex(t, v.Entropy))); err != nil {
			t.Fatal(err)
		}
		key, err := s.Finish(unhex(t, v.OrigMsg))
		if err != nil {
			t.Errorf("%s: Finish: %v", v.Password, err)
			continue
		}
		want := unhex(t, v.OrigKey)
		switch lk := s.LegacyKey(); {
		case bytes.Equal(key, want):
			if lk != nil {
				t.Errorf("%s: a legacy key where the keys agree", v.Password)
			}
		case lk == nil:
			t.Errorf("%s: keys differ and there is no legacy key", v.Password)
		case !bytes.Equal(lk, want):
			t.Errorf("%s: legacy key %x, the original derived %x", v.Password, lk, want)
		default:
			legacy++
		}
	}
	return legacy
}

// TestUpstreamVectors: exchanges with the original gospake2 (the one
// wormhole-william links), kept where it derived a key a correct SPAKE2
// does not; produced by testdata/gen_upstream_vectors.sh.
func TestUpstreamVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/upstream_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkUpstream(t, raw); n < 10 {
		t.Errorf("only %d vectors need the legacy key", n)
	}
}
