package relay

import (
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// TestConnCountsRoundTrip: an entry decodes back to the counts encoded,
// every count and key that this relay can have, and nothing else.
func TestConnCountsRoundTrip(t *testing.T) {
	in := connCounts{
		addr:   map[string]int64{"127.0.0.1": 3, "2001:db8::/64": 1, "10.0.0.9": maxConnsCount},
		prefix: map[string]int64{"127.0.0.0/24": 4, "2001:db8::/48": 1},
	}
	b, dropped := encodeConnCounts(in, maxConnsEntryBytes)
	if dropped != 0 {
		t.Fatalf("dropped %d of a small entry", dropped)
	}
	out, err := decodeConnCounts(b)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(in.addr, out.addr) || !maps.Equal(in.prefix, out.prefix) {
		t.Fatalf("decoded %v, want %v", out, in)
	}
	// Zero, negative and oversized counts and keys are never written.
	b, _ = encodeConnCounts(connCounts{addr: map[string]int64{"a": 0, "b": -1, "c": maxConnsCount + 1,
		strings.Repeat("k", maxConnsKeyBytes+1): 1, "": 1}}, maxConnsEntryBytes)
	if out, err := decodeConnCounts(b); err != nil || len(out.addr)+len(out.prefix) != 0 {
		t.Fatalf("entry of bad counts decodes to %v, %v; want nothing", out, err)
	}
}

// TestConnCountsCapped: an entry never exceeds its cap; the smallest
// counts go first.
func TestConnCountsCapped(t *testing.T) {
	in := connCounts{addr: map[string]int64{}, prefix: map[string]int64{}}
	for i := range 30000 {
		in.addr[fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)] = 1
	}
	for i := range 100 {
		in.addr[fmt.Sprintf("11.0.0.%d", i)] = 7
		in.prefix[fmt.Sprintf("11.0.%d.0/24", i)] = 9
	}
	b, dropped := encodeConnCounts(in, maxConnsEntryBytes)
	if len(b) > maxConnsEntryBytes {
		t.Fatalf("entry of %d bytes, cap %d", len(b), maxConnsEntryBytes)
	}
	if dropped == 0 {
		t.Fatalf("30,200 keys fit in %d bytes?", maxConnsEntryBytes)
	}
	out, err := decodeConnCounts(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.addr)+len(out.prefix)+dropped != len(in.addr)+len(in.prefix) {
		t.Fatalf("kept %d + %d, dropped %d, of %d", len(out.addr), len(out.prefix), dropped, len(in.addr)+len(in.prefix))
	}
	for i := range 100 {
		if out.addr[fmt.Sprintf("11.0.0.%d", i)] != 7 || out.prefix[fmt.Sprintf("11.0.%d.0/24", i)] != 9 {
			t.Fatalf("a big count was left out for the small ones")
		}
	}
	small, _ := encodeConnCounts(in, 1000)
	if len(small) > 1000 {
		t.Fatalf("entry of %d bytes, cap 1000", len(small))
	}
}

// TestConnCountsMalformed: entries another relay (or anyone who can
// write the bucket) wrote wrong are refused with an error, not read.
func TestConnCountsMalformed(t *testing.T) {
	good, _ := encodeConnCounts(connCounts{addr: map[string]int64{"127.0.0.1": 2}}, maxConnsEntryBytes)
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	hdr := []byte{connsEntryMagic, connsEntryVersion}
	for name, b := range map[string][]byte{
		"empty":          nil,
		"bad magic":      {'x', 1, 0, 0},
		"bad version":    {connsEntryMagic, 9, 0, 0},
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"no networks":    cat(hdr, uv(0)),
		"huge key count": cat(hdr, uv(1<<40), uv(0)),
		"zero key":       cat(hdr, uv(1), uv(0), uv(1), uv(0)),
		"long key":       cat(hdr, uv(1), uv(maxConnsKeyBytes+1), []byte(strings.Repeat("k", maxConnsKeyBytes+1)), uv(1), uv(0)),
		"zero count":     cat(hdr, uv(1), uv(1), []byte("k"), uv(0), uv(0)),
		"huge count":     cat(hdr, uv(1), uv(1), []byte("k"), uv(maxConnsCount+1), uv(0)),
		"duplicate key":  cat(hdr, uv(2), uv(1), []byte("k"), uv(1), uv(1), []byte("k"), uv(1), uv(0)),
		"unsorted keys":  cat(hdr, uv(2), uv(1), []byte("l"), uv(1), uv(1), []byte("k"), uv(1), uv(0)),
		"overlong":       cat(hdr, make([]byte, maxConnsEntryBytes)),
		"bad varint":     cat(hdr, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}),
	} {
		if c, err := decodeConnCounts(b); err == nil {
			t.Errorf("%s: decoded to %v", name, c)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error of more than one line: %q", name, err)
		}
	}
}

// TestSelectShared: a relay shares the counts a limit needs, and only
// those (see selectShared for why that is enough).
func TestSelectShared(t *testing.T) {
	own := map[string]int64{"a": 1, "b": 2, "c": 3, "d": 11, "e": 1}
	others := map[string]int64{"a": 2, "e": 0, "x": 5}
	for _, tc := range []struct {
		limit  int64
		relays int
		want   map[string]int64
	}{
		{limit: 2, relays: 3, want: own},                                       // t = 1: everything
		{limit: 5, relays: 2, want: map[string]int64{"a": 1, "c": 3, "d": 11}}, // t = 3: a with the others' 2
		{limit: 32, relays: 3, want: map[string]int64{"d": 11}},                // t = 11
		{limit: 32, relays: 1, want: nil},                                      // alone: t = 32
		{limit: -1, relays: 3, want: nil},                                      // no limit
	} {
		got := selectShared(own, others, tc.limit, tc.relays)
		if !maps.Equal(got, tc.want) {
			t.Errorf("limit %d over %d relays: shared %v, want %v", tc.limit, tc.relays, got, tc.want)
		}
	}
}

// FuzzConnCounts: decodeConnCounts, which reads what other relays wrote
// in the shared bucket, never panics, keeps to its caps, and what it
// accepts encodes back, no longer, to the same counts.
func FuzzConnCounts(f *testing.F) {
	for _, c := range []connCounts{
		{},
		{addr: map[string]int64{"127.0.0.1": 2}},
		{addr: map[string]int64{"127.0.0.1": 2, "2001:db8::/64": 40}, prefix: map[string]int64{"127.0.0.0/24": 3}},
		{prefix: map[string]int64{"10.1.2.0/24": maxConnsCount}},
	} {
		b, _ := encodeConnCounts(c, maxConnsEntryBytes)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{connsEntryMagic, connsEntryVersion, 0x80})
	f.Add([]byte{connsEntryMagic, connsEntryVersion, 1, 1, 'k', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeConnCounts(b)
		if err != nil {
			return
		}
		for _, m := range []map[string]int64{c.addr, c.prefix} {
			for k, n := range m {
				if k == "" || len(k) > maxConnsKeyBytes || n <= 0 || n > maxConnsCount {
					t.Fatalf("decoded %q: %d", k, n)
				}
			}
		}
		again, dropped := encodeConnCounts(c, maxConnsEntryBytes)
		if dropped != 0 || len(again) > len(b) {
			t.Fatalf("%x (%d bytes) decodes to %v, which encodes to %d bytes (dropped %d)", b, len(b), c, len(again), dropped)
		}
		back, err := decodeConnCounts(again)
		if err != nil || !maps.Equal(back.addr, c.addr) || !maps.Equal(back.prefix, c.prefix) {
			t.Fatalf("%v encodes to %x, which decodes to %v, %v", c, again, back, err)
		}
	})
}
