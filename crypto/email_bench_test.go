package crypto

import (
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// BenchmarkEmailSealOpen encrypts (to a key, signed) and decrypts
// (verifying) a generated stream through a pipe, so nothing is held in
// memory; b.SetBytes makes the result MB/s. scripts/bench-email measures
// the CLI on a 1 GiB file with peak RSS.
func BenchmarkEmailSealOpen(b *testing.B) {
	for _, armor := range []bool{false, true} {
		name := "binary"
		if armor {
			name = "armor"
		}
		b.Run(name, func(b *testing.B) {
			alice, bob := mustKey(b, "alice", nil), mustKey(b, "bob", nil)
			const size = 64 << 20
			b.SetBytes(size)
			for b.Loop() {
				pr, pw := io.Pipe()
				go func() {
					w, err := Seal(pw, SealOptions{To: []*openpgp.Entity{bob}, Signer: alice, Armor: armor})
					if err == nil {
						_, err = io.CopyN(w, rand.NewChaCha8([32]byte{}), size)
					}
					if err == nil {
						err = w.Close()
					}
					pw.CloseWithError(err)
				}()
				m, err := Open(pr, OpenOptions{Keyring: openpgp.EntityList{alice, bob}})
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, m)
				if err != nil || n != size {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
}
