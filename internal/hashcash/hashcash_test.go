package hashcash

import (
	"context"
	"crypto/sha1"
	"strings"
	"testing"
	"time"
)

// The stamp of the protocol's example (server-protocol.md), made by the
// hashcash tool: ferry accepts it.
func TestCheckSpecExample(t *testing.T) {
	stamp := "1:6:210723:resource-string::NmZNF4eIbk87mqYz:000003n"
	now := time.Date(2021, 7, 23, 12, 0, 0, 0, time.UTC)
	if err := Check(stamp, 6, "resource-string", now); err != nil {
		t.Fatalf("Check(spec example) = %v", err)
	}
	if err := Check(stamp, 8, "resource-string", now); err == nil {
		t.Error("the 6-bit stamp passed for 8 bits")
	}
}

func TestMintCheck(t *testing.T) {
	now := time.Now()
	for _, n := range []int{0, 1, 12, 16} {
		s, err := Mint(context.Background(), n, "r3s0urce", now)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Split(s, ":")
		if len(f) != 7 || f[0] != "1" || f[3] != "r3s0urce" || f[4] != "" || len(f[5]) != 16 {
			t.Fatalf("stamp %q is not 1:BITS:DATE:RESOURCE::SALT:COUNTER", s)
		}
		if zeroBits(sha1.Sum([]byte(s))) < n {
			t.Fatalf("stamp %q has fewer than %d zero bits", s, n)
		}
		if err := Check(s, n, "r3s0urce", now); err != nil {
			t.Errorf("Check(%q, %d) = %v", s, n, err)
		}
	}
	good, _ := Mint(context.Background(), 12, "res", now)
	for name, c := range map[string]struct {
		stamp    string
		resource string
		bits     int
		now      time.Time
	}{
		"other resource": {good, "other", 12, now},
		"more bits":      {good, "res", 24, now},
		"old":            {good, "res", 12, now.Add(10 * 24 * time.Hour)},
		"version 0":      {"0" + good[1:], "res", 12, now},
		"fields":         {good + ":x", "res", 12, now},
		"claims less":    {strings.Replace(good, "1:12:", "1:8:", 1), "res", 12, now},
		"tampered":       {good[:len(good)-1] + "g", "res", 12, now},
	} {
		if err := Check(c.stamp, c.bits, c.resource, c.now); err == nil {
			t.Errorf("%s: Check(%q) passed", name, c.stamp)
		}
	}
}

// TestMintBounded: a server cannot make ferry work for hours, and a
// cancelled mint ends.
func TestMintBounded(t *testing.T) {
	if _, err := Mint(context.Background(), MaxBits+1, "r", time.Now()); err == nil {
		t.Error("minted more than MaxBits")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Mint(ctx, MaxBits, "r", time.Now()); err == nil {
		t.Error("a cancelled mint of 28 bits succeeded")
	}
	for _, r := range []string{"", "a:b", "a b", strings.Repeat("x", 300), "\x1b"} {
		if _, err := Mint(context.Background(), 1, r, time.Now()); err == nil {
			t.Errorf("minted for resource %q", r)
		}
	}
}
