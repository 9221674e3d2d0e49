package hashcash

import (
	"context"
	"crypto/sha1"
	"strings"
	"testing"
	"time"
)

// FuzzCheck feeds Check what a client may submit (the relay runs it on
// every submit-permissions). Properties: it never panics; a stamp it
// accepts is a version 1 stamp of seven fields, for the resource, claiming
// at least the bits, whose SHA-1 has them; minted stamps are accepted.
func FuzzCheck(f *testing.F) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	minted, err := Mint(context.Background(), 8, "abcd", now)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{minted, "1:20:060408:adam@cypherspace.org::1QTjaYd7niiQA/sc:ePa", "1:8:261201:abcd::x:", "", "1:::::::", "0:8:261201:abcd::x:1", strings.Repeat(":", 2000)} {
		f.Add(s, uint8(8), "abcd")
	}
	f.Fuzz(func(t *testing.T, stamp string, bits uint8, resource string) {
		nbits := int(bits % (MaxBits + 1))
		if Check(stamp, nbits, resource, now) != nil {
			return
		}
		fields := strings.Split(stamp, ":")
		if len(fields) != 7 || fields[0] != "1" || fields[3] != resource {
			t.Fatalf("accepted %q for %q", stamp, resource)
		}
		if zeroBits(sha1.Sum([]byte(stamp))) < nbits {
			t.Fatalf("accepted %q with fewer than %d zero bits", stamp, nbits)
		}
		if CheckResource(resource) == nil && nbits <= 12 {
			m, err := Mint(context.Background(), nbits, resource, now)
			if err != nil || Check(m, nbits, resource, now) != nil {
				t.Fatalf("minted %q for %q (%v) is refused", m, resource, err)
			}
		}
	})
}
