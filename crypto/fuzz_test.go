package crypto

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// fuzzKey is the same unlocked key in every fuzzing process (the seed
// corpus has messages to it): made from a fixed random stream.
func fuzzKey(tb testing.TB) *openpgp.Entity {
	tb.Helper()
	cfg := emailConfig()
	cfg.Rand = rand.NewChaCha8([32]byte{'f', 'e', 'r', 'r', 'y'})
	cfg.Time = func() time.Time { return time.Unix(1700000000, 0) }
	e, err := openpgp.NewEntity("Fuzz", "", "fuzz@example.org", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// fuzzArgon2Memory is the Argon2 cap under fuzzing (small, to keep each
// run fast); fuzzAllocBound is what opening and reading one input may
// allocate: the Argon2 of all passphrase packets together (at most one at
// the caps' work), AEAD chunk buffers (up to 4 MiB), decompressor state,
// and room for the rest. A derivation beyond the caps (1 GiB and up for
// the seed bombs) breaks it.
const (
	fuzzArgon2Memory = 4 << 20
	fuzzAllocBound   = 128 << 20
	fuzzMaxInput     = 64 << 10
)

// FuzzOpen feeds ferry decrypt's path (Open, then reading to the end)
// arbitrary messages, with a passphrase and a secret key at hand: it must
// neither panic nor allocate beyond the caps. The seed corpus in
// testdata/fuzz/FuzzOpen has real messages (passphrase, Argon2, to the
// key, signed, compressed, armored, SEIPDv2) and Argon2 bombs.
func FuzzOpen(f *testing.F) {
	ring := openpgp.EntityList{fuzzKey(f)}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			return
		}
		opts := OpenOptions{
			Keyring:         ring,
			Passphrase:      func() ([]byte, error) { return []byte("fuzz"), nil },
			MaxArgon2Memory: fuzzArgon2Memory,
			MaxRatio:        100,
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if m, err := Open(bytes.NewReader(data), opts); err == nil {
			_, _ = io.Copy(io.Discard, m)
		}
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n > fuzzAllocBound {
			t.Fatalf("opening %d bytes allocated %d MiB", len(data), n>>20)
		}
	})
}
