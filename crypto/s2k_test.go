package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

// argon2Spec is an RFC 9580 Argon2 S2K specifier: t passes, p lanes and
// 2^m KiB of memory.
func argon2Spec(t, p, m byte) []byte {
	return append(append([]byte{4}, bytes.Repeat([]byte{0xA5}, 16)...), t, p, m)
}

// withS2K returns msg with the S2K specifier of its first packet, a v4
// or v6 SKESK with a one-octet length (as go-crypto writes them),
// replaced by spec: what a hostile sender changes in a real message.
func withS2K(tb testing.TB, msg, spec []byte) []byte {
	tb.Helper()
	if len(msg) < 8 || msg[0] != 0xC3 || msg[1] >= 192 {
		tb.Fatalf("message does not start with a short SKESK: % x", msg[:min(len(msg), 8)])
	}
	body := msg[2 : 2+int(msg[1])]
	rest := msg[2+int(msg[1]):]
	var at int
	switch body[0] {
	case 4:
		at = 2 // version, cipher
	case 6:
		at = 5 // version, count, cipher, AEAD mode, S2K length
	default:
		tb.Fatalf("SKESK version %d", body[0])
	}
	old := map[byte]int{0: 2, 1: 10, 3: 11, 4: 20}[body[at]]
	if old == 0 {
		tb.Fatalf("S2K mode %d", body[at])
	}
	nb := append(append(bytes.Clone(body[:at]), spec...), body[at+old:]...)
	if body[0] == 6 {
		nb[1] = byte(int(nb[1]) - old + len(spec))
		nb[4] = byte(len(spec))
	}
	out := append([]byte{0xC3, byte(len(nb))}, nb...)
	return append(out, rest...)
}

// allocated is how many bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// noDerivation bounds what a refused message may allocate: far less than
// the smallest Argon2 memory the tests ask for (1 GiB).
const noDerivation = 128 << 20

// bombExps are the Argon2 memory exponents of the hostile messages: 2^20
// KiB (1 GiB) and 2^31 KiB (2 TiB, the largest RFC 9580 allows; the
// allocation fails at once, "fatal error: runtime: out of memory").
var bombExps = []byte{20, 31}

// TestDecryptRefusesArgon2 sends the peer stream a real ferry stream
// whose key packet asks for Argon2: refused before any key derivation.
func TestDecryptRefusesArgon2(t *testing.T) {
	k := key(t, 1)
	ct := encrypt(t, k, []byte("payload"))
	for _, m := range bombExps {
		t.Run(fmt.Sprintf("m=%d", m), func(t *testing.T) {
			bomb := withS2K(t, ct, argon2Spec(1, 4, m))
			var err error
			n := allocated(func() {
				var r io.Reader
				if r, err = Decrypt(bytes.NewReader(bomb), k); err == nil {
					_, err = io.ReadAll(r)
				}
			})
			if err == nil || !strings.Contains(err.Error(), "ferry's form") {
				t.Fatalf("err = %v, want a refusal of the stream's form", err)
			}
			if n > noDerivation {
				t.Fatalf("allocated %d MiB before refusing", n>>20)
			}
		})
	}
}

// TestOpenRefusesArgon2Bomb opens a passphrase message (as gpg -c makes
// it) whose S2K asks for more Argon2 memory than the cap: refused with a
// clear error before the key is derived.
func TestOpenRefusesArgon2Bomb(t *testing.T) {
	ct := seal(t, SealOptions{Passphrase: []byte("pw")}, []byte("secret"))
	for _, m := range bombExps {
		t.Run(fmt.Sprintf("m=%d", m), func(t *testing.T) {
			bomb := withS2K(t, ct, argon2Spec(1, 4, m))
			var err error
			n := allocated(func() {
				_, _, err = open(bomb, OpenOptions{Passphrase: func() ([]byte, error) { return []byte("pw"), nil }})
			})
			if err == nil || !strings.Contains(err.Error(), "Argon2") || !strings.Contains(err.Error(), "256 MiB") {
				t.Fatalf("err = %v, want an Argon2 memory refusal naming the cap", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if n > noDerivation {
				t.Fatalf("allocated %d MiB before refusing", n>>20)
			}
		})
	}
}

// skesk is a v4 passphrase packet with S2K spec and no session key (the
// S2K output is the key).
func skesk(spec []byte) []byte {
	body := append([]byte{4, 9}, spec...)
	return append([]byte{0xC3, byte(len(body))}, body...)
}

// TestDecryptOnlyFerrysForm: the peer stream must be exactly the key
// packet and encrypted data Encrypt writes; anything around or instead of
// them is refused before a key is derived.
func TestDecryptOnlyFerrysForm(t *testing.T) {
	k := key(t, 1)
	ct := encrypt(t, k, []byte("payload"))
	first := ct[:61]
	marker := []byte{0xCA, 3, 'P', 'G', 'P'}
	bomb := skesk(argon2Spec(1, 4, 20))
	cases := map[string][]byte{
		"argon2 after ferry's packet":  append(append(bytes.Clone(first), bomb...), ct[61:]...),
		"argon2 before ferry's packet": append(bytes.Clone(bomb), ct...),
		"marker first":                 append(bytes.Clone(marker), ct...),
		"iterated S2K":                 withS2K(t, ct, append(append([]byte{3, 8}, bytes.Repeat([]byte{1}, 8)...), 0xFF)),
		"argon2, tiny":                 withS2K(t, ct, argon2Spec(1, 1, 3)),
		"other chunk size": func() []byte {
			b := bytes.Clone(ct)
			b[61+2+3] = 16 // tag, length, version, cipher, mode, then the chunk size byte
			return b
		}(),
		"no encrypted data": bytes.Clone(first),
		"garbage":           []byte("not OpenPGP at all"),
	}
	if ct[61] != 0xD2 || ct[62] >= 192 && ct[62] < 224 {
		t.Fatalf("unexpected SEIPD header % x", ct[61:64])
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() {
				var r io.Reader
				if r, err = Decrypt(bytes.NewReader(msg), k); err == nil {
					_, err = io.ReadAll(r)
				}
			})
			if err == nil {
				t.Fatal("accepted")
			}
			if name != "no encrypted data" && !errors.Is(err, ErrStreamForm) {
				t.Fatalf("err = %v, want ErrStreamForm", err)
			}
			if n > noDerivation {
				t.Fatalf("allocated %d MiB before refusing", n>>20)
			}
		})
	}
	// and the real thing still opens
	r, err := Decrypt(bytes.NewReader(ct), k)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "payload" {
		t.Fatalf("%q %v", got, err)
	}
}

// argon2Sealed is a real passphrase message whose S2K is Argon2 with t
// passes, p lanes and 2^m KiB, as OpenPGP.js and go-crypto write them.
func argon2Sealed(t *testing.T, pw string, tp, p byte, m uint32) []byte {
	t.Helper()
	var buf bytes.Buffer
	cfg := emailConfig()
	cfg.S2KConfig = &s2k.Config{S2KMode: s2k.Argon2S2K, Argon2Config: &s2k.Argon2Config{NumberOfPasses: tp, DegreeOfParallelism: p, Memory: 1 << m}}
	w, err := openpgp.SymmetricallyEncrypt(&buf, []byte(pw), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("argon2 secret"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestOpenArgon2Caps: within the caps an Argon2 message opens; beyond
// any of them (memory, passes, packets, the work of all packets, or
// hidden behind a marker packet go-crypto reads past), it is refused
// before a key is derived.
func TestOpenArgon2Caps(t *testing.T) {
	pw := func() ([]byte, error) { return []byte("pw"), nil }
	small := argon2Sealed(t, "pw", 1, 1, 11) // 2 MiB
	if got, _, err := open(small, OpenOptions{Passphrase: pw}); err != nil || string(got) != "argon2 secret" {
		t.Fatalf("within the caps: %q %v", got, err)
	}
	_, _, err := open(small, OpenOptions{Passphrase: pw, MaxArgon2Memory: 1 << 20})
	var le *S2KLimitError
	if !errors.Is(err, ErrS2KLimit) || !errors.As(err, &le) || !le.Memory || !strings.Contains(err.Error(), "2 MiB of memory, more than the 1 MiB limit") {
		t.Fatalf("err = %v, want the 1 MiB cap", err)
	}
	sealed := seal(t, SealOptions{Passphrase: []byte("pw")}, []byte("secret"))
	real, seipd := sealed[:2+int(sealed[1])], sealed[2+int(sealed[1]):]
	hidden := skesk(argon2Spec(1, 4, 20))
	cases := map[string][]byte{
		"255 passes":        withS2K(t, sealed, argon2Spec(255, 1, 10)),
		"9 packets":         append(bytes.Repeat(real, 9), seipd...),
		"work of 3 packets": append(append(bytes.Repeat(skesk(argon2Spec(4, 4, 18)), 3), real...), seipd...),
		"behind a marker":   append(append(append([]byte{0xCA, byte(3 + len(hidden)), 'P', 'G', 'P'}, hidden...), real...), seipd...),
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, _, err = open(msg, OpenOptions{Passphrase: pw}) })
			if !errors.Is(err, ErrS2KLimit) {
				t.Fatalf("err = %v, want ErrS2KLimit", err)
			}
			if n > noDerivation {
				t.Fatalf("allocated %d MiB before refusing", n>>20)
			}
			t.Log(err)
		})
	}
	// Several packets within the caps still open (go-crypto tries them
	// in order and stops at the first that yields a key).
	two := append(append(bytes.Clone(real), skesk(argon2Spec(1, 1, 10))...), seipd...)
	if got, _, err := open(two, OpenOptions{Passphrase: pw}); err != nil || string(got) != "secret" {
		t.Fatalf("two packets: %q %v", got, err)
	}
}
