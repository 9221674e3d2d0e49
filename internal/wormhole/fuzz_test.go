package wormhole

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ferrydrop/ferry/internal/mailbox"
	"golang.org/x/crypto/nacl/secretbox"
	"salsa.debian.org/vasudev/gospake2"
)

var (
	fuzzKey    = bytes.Repeat([]byte{7}, keySize)
	fuzzLegacy = bytes.Repeat([]byte{9}, keySize)
)

const fuzzPeer = "fedcba9876"

// fuzzWormhole is a Wormhole that holds fuzzKey and knows its peer, with no
// mailbox: enough for the code that reads the peer's messages.
func fuzzWormhole() *Wormhole {
	return &Wormhole{cfg: Config{AppID: AppID}, log: slog.New(slog.DiscardHandler), side: "0123456789",
		key: fuzzKey, peerSide: fuzzPeer, pending: map[int][]byte{}}
}

// FuzzOpen: open never panics on a body from the peer, and what it opens
// is the body less nonce and tag; seal then open gives the plaintext back,
// and the sealed body with any one bit flipped, or cut short, fails.
func FuzzOpen(f *testing.F) {
	raw, err := os.ReadFile("testdata/keys.json")
	if err != nil {
		f.Fatal(err)
	}
	var vecs []struct{ Body, Plaintext string }
	if err := json.Unmarshal(raw, &vecs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vecs {
		body, _ := hex.DecodeString(v.Body)
		f.Add(body, []byte(v.Plaintext), uint16(0))
	}
	f.Add([]byte{}, []byte{}, uint16(100))
	f.Add(make([]byte, nonceSize+secretbox.Overhead-1), []byte(`{"app_versions":{}}`), uint16(39))
	f.Fuzz(func(t *testing.T, body, plain []byte, flip uint16) {
		if out, err := open(fuzzKey, body); err == nil && len(out) != len(body)-nonceSize-secretbox.Overhead {
			t.Fatalf("opened %d bytes from a body of %d", len(out), len(body))
		}
		sealed := seal(fuzzKey, plain)
		if len(sealed) != len(plain)+nonceSize+secretbox.Overhead {
			t.Fatalf("sealed %d bytes into %d", len(plain), len(sealed))
		}
		if out, err := open(fuzzKey, sealed); err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("round trip: %q, %v", out, err)
		}
		i := int(flip) % (8 * len(sealed))
		sealed[i/8] ^= 1 << (i % 8)
		if _, err := open(fuzzKey, sealed); !errors.Is(err, errDecrypt) {
			t.Fatalf("opened with bit %d flipped: %v", i, err)
		}
		sealed[i/8] ^= 1 << (i % 8)
		if _, err := open(fuzzKey, sealed[:len(sealed)-1]); !errors.Is(err, errDecrypt) {
			t.Fatalf("opened cut short: %v", err)
		}
	})
}

// FuzzPeerVersion reads the peer's version message: its plaintext sealed
// with our key or with the legacy key (the original gospake2's), or a raw
// body. Properties: a raw body fails as a wrong code; a sealed one opens
// with whichever key sealed it, which becomes the key; it is accepted
// exactly when it is a JSON object whose app_versions (if any) is one;
// the legacy key is dropped whatever happens; the announced versions are
// valid JSON that re-encode to the same values.
func FuzzPeerVersion(f *testing.F) {
	for _, s := range []string{
		`{"app_versions":{"ferry":{"protocol":1,"transports":["tcp","ice"]}}}`,
		`{"app_versions":{}}`,
		`{}`,
		`{"abilities":["transfer-v1"]}`,
		`{"app_versions":{},"can-dilate":["ged"],"dilation-abilities":[{"type":"direct-tcp-v1"}]}`,
		`{"app_versions":null}`,
		`{"app_versions":[]}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, false)
	}
	f.Add([]byte("too short"), false, true)
	f.Fuzz(func(t *testing.T, plain []byte, legacy, raw bool) {
		w := fuzzWormhole()
		w.legacyKey = fuzzLegacy
		sealWith := fuzzKey
		if legacy {
			sealWith = fuzzLegacy
		}
		body := plain
		if !raw {
			body = seal(phaseKey(sealWith, fuzzPeer, "version"), plain)
		}
		err := w.readVersion(mailbox.Message{Side: fuzzPeer, Phase: "version", Body: body})
		if err != nil && !printable(err.Error()) {
			t.Fatalf("error %q is not printable", err)
		}
		if w.legacyKey != nil {
			t.Fatal("the legacy key outlived the version message")
		}
		if raw {
			if !errors.Is(err, ErrWrongCode) || w.peerVer != nil {
				t.Fatalf("a raw body was read: %v", err)
			}
			return
		}
		if !bytes.Equal(w.key, sealWith) {
			t.Fatalf("key is %x after a version sealed with %x", w.key, sealWith)
		}
		// Valid: null or an object whose app_versions, if there, is null
		// or an object (encoding/json matches the key in any case, so
		// the oracle judges only messages that spell it once).
		var v any
		valid := json.Unmarshal(plain, &v) == nil
		obj, isObject := v.(map[string]any)
		valid = valid && (v == nil || isObject)
		spellings := 0
		for k, av := range obj {
			if strings.EqualFold(k, "app_versions") {
				spellings++
				if _, ok := av.(map[string]any); av != nil && !ok {
					valid = false
				}
			}
		}
		if spellings > 1 {
			return
		}
		if (err == nil) != valid {
			t.Fatalf("version %q: err %v", plain, err)
		}
		if err != nil {
			if errors.Is(err, ErrWrongCode) || w.peerVer != nil {
				t.Fatalf("version %q: %v, versions %v", plain, err, w.peerVer)
			}
			return
		}
		if w.peerVer == nil {
			t.Fatal("versions are nil after a good version message")
		}
		b, err := json.Marshal(w.peerVer)
		if err != nil {
			t.Fatalf("versions do not re-encode: %v", err)
		}
		var back map[string]json.RawMessage
		if err := json.Unmarshal(b, &back); err != nil || len(back) != len(w.peerVer) {
			t.Fatalf("versions %s do not re-parse: %v", b, err)
		}
		for k, v := range w.peerVer {
			var x, y any
			if json.Unmarshal(v, &x) != nil || json.Unmarshal(back[k], &y) != nil || !reflect.DeepEqual(x, y) {
				t.Fatalf("version %q changed from %s to %s", k, v, back[k])
			}
		}
	})
}

// FuzzPeerPhases stashes the peer's messages in a fuzzed list of phases
// (comma-separated; "!" before a phase sends a raw body) and then receives
// in order. Properties: at most maxPending wait; only canonical numbers at
// or after the next one are kept, a duplicate never replaces the first;
// Receive returns each kept phase's own plaintext in order, and a body
// that does not open is a wrong code.
func FuzzPeerPhases(f *testing.F) {
	f.Add("0,1,2", []byte(`{"offer":{"message":"hi"}}`))
	f.Add("2,0,1,0,!3,4", []byte(`{"answer":{"file_ack":"ok"}}`))
	f.Add("pake,version,dilate-0,01,-1,+1,0x1,1e0, 1,0", []byte("x"))
	f.Add("!0", []byte("short"))
	f.Add(strings.Repeat("5,", 100)+"0", []byte{})
	f.Fuzz(func(t *testing.T, list string, plain []byte) {
		w := fuzzWormhole()
		first := map[int]string{} // kept phase -> its message's plaintext, or "!" for raw
		for i, p := range strings.Split(list, ",") {
			if i == 4*maxPending {
				break
			}
			rawBody := strings.HasPrefix(p, "!")
			p = strings.TrimPrefix(p, "!")
			msg := append(bytes.Clone(plain), p...)
			body := seal(phaseKey(fuzzKey, fuzzPeer, p), msg)
			if rawBody {
				body = msg
			}
			w.stash(mailbox.Message{Side: fuzzPeer, Phase: p, Body: body})
			n, err := strconv.Atoi(p)
			if _, seen := first[n]; err == nil && strconv.Itoa(n) == p && n >= 0 && !seen && len(first) < maxPending {
				first[n] = string(msg)
				if rawBody {
					first[n] = "!"
				}
			}
			if len(w.pending) > maxPending {
				t.Fatalf("%d phases pending, more than %d", len(w.pending), maxPending)
			}
			if len(w.pending) != len(first) {
				t.Fatalf("after %q: %d pending, want %d", p, len(w.pending), len(first))
			}
		}
		for w.pending[w.nextIn] != nil {
			n := w.nextIn
			got, err := w.Receive(context.Background())
			if first[n] == "!" {
				if !errors.Is(err, ErrWrongCode) {
					t.Fatalf("phase %d with a raw body: %q, %v", n, got, err)
				}
				return
			}
			if err != nil || string(got) != first[n] || w.nextIn != n+1 {
				t.Fatalf("phase %d: %q, %v; want %q", n, got, err, first[n])
			}
		}
	})
}

// FuzzPake reads the peer's pake message. Our side runs a fixed code and
// entropy (a vector's: the original gospake2 derived the legacy key in it).
// Properties: a failure is a wrong code and leaves no key; a success gives
// a 32-byte key and records the peer's side; an honest peer's message gives
// the peer's key, and the vector's original-gospake2 message gives its key
// as the key or the legacy key.
func FuzzPake(f *testing.F) {
	raw, err := os.ReadFile("../gospake2/testdata/upstream_vectors.json")
	if err != nil {
		f.Fatal(err)
	}
	var vecs struct{ Vectors []origVector }
	if err := json.Unmarshal(raw, &vecs); err != nil {
		f.Fatal(err)
	}
	var v origVector
	for _, x := range vecs.Vectors {
		if x.LegacyKeyed && x.Identity == AppID {
			v = x
		}
	}
	if v.Password == "" {
		f.Fatal("no vector with a legacy key")
	}
	entropy, _ := hex.DecodeString(v.Entropy)
	origKey, _ := hex.DecodeString(v.OrigKey)
	newPeer := func() (*gospake2.SPAKE2, []byte) {
		s := gospake2.SPAKE2Symmetric(gospake2.NewPassword(v.Password), gospake2.NewIdentityS(AppID))
		msg, _ := s.StartWithEntropy(bytes.NewReader(bytes.Repeat([]byte{0x42}, 64)))
		return &s, msg
	}
	_, honest := newPeer()
	pake := func(msg string) []byte {
		b, _ := json.Marshal(map[string]string{"pake_v1": msg})
		return b
	}
	f.Add(pake(hex.EncodeToString(honest)))
	f.Add(pake(v.OrigMsg))
	f.Add(pake("53" + strings.Repeat("00", 32)))
	f.Add(pake("zz"))
	f.Add([]byte(`{"pake_v1":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := fuzzWormhole()
		w.key, w.peerSide = nil, ""
		s := gospake2.SPAKE2Symmetric(gospake2.NewPassword(v.Password), gospake2.NewIdentityS(AppID))
		ours, err := s.StartWithEntropy(bytes.NewReader(entropy))
		if err != nil {
			t.Fatal(err)
		}
		w.spake = &s
		err = w.finishPake(mailbox.Message{Side: fuzzPeer, Phase: "pake", Body: body})
		if err != nil && !printable(err.Error()) {
			t.Fatalf("error %q is not printable", err)
		}
		if err != nil {
			if !errors.Is(err, ErrWrongCode) || w.key != nil || w.peerSide != "" {
				t.Fatalf("pake %q: %v, key %x", body, err, w.key)
			}
			return
		}
		if len(w.key) != keySize || w.peerSide != fuzzPeer {
			t.Fatalf("pake %q: key %x, peer %q", body, w.key, w.peerSide)
		}
		var p struct {
			PakeV1 string `json:"pake_v1"`
		}
		_ = json.Unmarshal(body, &p)
		switch msg, _ := hex.DecodeString(p.PakeV1); {
		case bytes.Equal(msg, honest):
			peer, _ := newPeer()
			if k, err := peer.Finish(ours); err != nil || !bytes.Equal(k, w.key) {
				t.Fatalf("honest peer's key %x, ours %x (%v)", k, w.key, err)
			}
		case p.PakeV1 == v.OrigMsg:
			if !bytes.Equal(w.key, origKey) && !bytes.Equal(w.legacyKey, origKey) {
				t.Fatalf("original gospake2's key %x is neither our key %x nor the legacy one %x", origKey, w.key, w.legacyKey)
			}
		}
	})
}

// FuzzParseCode: a code is accepted exactly when it is 1 to 40 ASCII
// digits, a dash and something more, at most maxCodeLen bytes, with no
// spaces or control characters; the nameplate is the digits.
func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"7-guitarist-revenge", "123-a", "4-a-b-c-d", "", "7", "7-", "-a-b", "x-a-b", "7 -a",
		"7-a\x1b[2J", "7-a\u2028b", "7-a\u00a0b", "٣-a", strings.Repeat("1", 41) + "-a", "7-" + strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		nameplate, err := ParseCode(code)
		if err != nil && !printable(err.Error()) {
			t.Fatalf("error %q is not printable", err)
		}
		np, rest, dash := strings.Cut(code, "-")
		want := dash && rest != "" && len(code) <= maxCodeLen && mailbox.ValidNameplate(np) &&
			!strings.ContainsFunc(code, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
		if (err == nil) != want {
			t.Fatalf("ParseCode(%q) = %q, %v", code, nameplate, err)
		}
		if err == nil && (nameplate != np || len(np) > 40 || strings.Trim(np, "0123456789") != "") {
			t.Fatalf("ParseCode(%q) = nameplate %q", code, nameplate)
		}
	})
}

// printable reports whether s is valid UTF-8 with only printable
// characters: nothing a terminal would act on.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}
