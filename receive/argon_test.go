package receive_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/internal/transfer"
	"github.com/ferrydrop/ferry/receive"
)

// argon2Stream turns ferry's stream key packet (a v6 SKESK with a 10-byte
// salted S2K at offset 7) into one whose S2K is Argon2 with one pass, 4
// lanes and 2^m KiB of memory: a 30-odd byte change that, unchecked,
// makes the receiver derive a key with up to 2 TiB of memory after Accept.
func argon2Stream(t *testing.T, m byte) func([]byte) []byte {
	return func(ct []byte) []byte {
		if len(ct) < 61 || ct[0] != 0xC3 || ct[1] != 59 || ct[2] != 6 || ct[7] != 1 {
			t.Errorf("unexpected stream start % x", ct[:min(len(ct), 8)])
			return ct
		}
		spec := append(append([]byte{4}, bytes.Repeat([]byte{0x5A}, 16)...), 1, 4, m)
		body := append(append(bytes.Clone(ct[2:7]), spec...), ct[17:61]...)
		body[1] += byte(len(spec) - 10) // the v6 count of the fields before the key
		body[4] = byte(len(spec))
		return append(append([]byte{0xC3, byte(len(body))}, body...), ct[61:]...)
	}
}

// TestHostileArgon2Stream is a ferry sender whose stream, after Accept,
// asks for an Argon2 key derivation (1 GiB, 2 TiB): the receiver refuses
// it before deriving anything, and nothing lands (no .ferry-partial-*).
func TestHostileArgon2Stream(t *testing.T) {
	for _, m := range []byte{20, 31} {
		t.Run(fmt.Sprintf("m=%d", m), func(t *testing.T) {
			ctx, url := setup(t)
			base, out := landingDirs(t)
			h := hostile{man: one("f", 1), body: tarOf(tarEntry{name: "f", body: "a", typ: tar.TypeReg}), tamper: argon2Stream(t, m)}
			h.run(ctx, t, url, "41-argon-bomb")
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := receive.Run(ctx, "41-argon-bomb", receive.Options{
				Relay: url, Out: out, Accept: func(transfer.Manifest) error { return nil },
			})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "ferry's form") {
				t.Fatalf("err = %v, want the stream's form refused", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 256<<20 {
				t.Fatalf("the receiver allocated %d MiB before refusing", n>>20)
			}
			t.Logf("refused: %v", err)
			nothingLanded(t, base)
		})
	}
}
