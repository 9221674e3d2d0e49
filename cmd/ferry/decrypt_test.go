package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/ferrydrop/ferry/crypto"
)

// argon2Message is a passphrase message as gpg -c writes it (a v4 SKESK,
// then SEIPDv1) whose S2K asks for Argon2 with 2^m KiB of memory: about
// 100 bytes that, unchecked, make ferry decrypt allocate up to 2 TiB.
func argon2Message(t *testing.T, m byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := crypto.Seal(&buf, crypto.SealOptions{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ct := buf.Bytes()
	// c3 LEN 04 CIPHER, then the 11-byte iterated S2K (03 HASH SALT COUNT)
	if ct[0] != 0xC3 || ct[2] != 4 || ct[4] != 3 {
		t.Fatalf("unexpected message start % x", ct[:8])
	}
	spec := append(append([]byte{4}, bytes.Repeat([]byte{0xA5}, 16)...), 1, 4, m)
	body := append(append(bytes.Clone(ct[2:4]), spec...), ct[4+11:2+int(ct[1])]...)
	return append(append([]byte{0xC3, byte(len(body))}, body...), ct[2+int(ct[1]):]...)
}

// TestDecryptArgon2Bomb runs ferry decrypt on such messages, binary and
// armored: one clear error line naming the cap, a non-zero exit, no
// output file, and the key is never derived.
func TestDecryptArgon2Bomb(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("FERRY_HOME", filepath.Join(dir, "home"))
	t.Setenv("FERRY_PASSPHRASE", "pw")
	for _, m := range []byte{20, 31} {
		for _, armored := range []bool{false, true} {
			t.Run(fmt.Sprintf("m=%d/armor=%v", m, armored), func(t *testing.T) {
				msg := argon2Message(t, m)
				if armored {
					var a bytes.Buffer
					w, _ := armor.Encode(&a, "PGP MESSAGE", nil)
					w.Write(msg)
					w.Close()
					msg = a.Bytes()
				}
				in := filepath.Join(dir, fmt.Sprintf("bomb-%d-%v.gpg", m, armored))
				if err := os.WriteFile(in, msg, 0o600); err != nil {
					t.Fatal(err)
				}
				out := strings.TrimSuffix(in, ".gpg")
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), []string{"decrypt", in}, strings.NewReader(""), &stdout, &stderr)
				if code == exitOK {
					t.Fatalf("exit 0; stderr:\n%s", &stderr)
				}
				first, _, _ := strings.Cut(stderr.String(), "\n")
				if !regexp.MustCompile(`^ferry: error: decrypt: .*Argon2.*256 MiB`).MatchString(first) {
					t.Fatalf("stderr:\n%s\nwant a first line naming Argon2 and the 256 MiB cap", &stderr)
				}
				if !strings.Contains(stderr.String(), "--max-argon2-memory") {
					t.Fatalf("stderr:\n%s\nwant a hint at --max-argon2-memory", &stderr)
				}
				if _, err := os.Lstat(out); err == nil {
					t.Fatalf("%s was written", out)
				}
				t.Logf("%d bytes: %s", len(msg), strings.TrimSpace(stderr.String()))
			})
		}
	}
}
