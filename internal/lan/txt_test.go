package lan

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/mdns/v2"
)

// entries reads TXT strings ("key=value", "key") as a DNS-SD browser does.
func entries(ss ...string) []mdns.TXTEntry {
	var out []mdns.TXTEntry
	for _, s := range ss {
		if k, v, ok := strings.Cut(s, "="); ok {
			out = append(out, mdns.TXTEntry{Key: k, Value: []byte(v)})
		} else {
			out = append(out, mdns.TXTEntry{Key: s})
		}
	}
	return out
}

func TestParseTXT(t *testing.T) {
	id := "0123456789abcdef"
	ok := []struct {
		txt  []string
		want Advert
	}{
		{[]string{"v=1", "nameplate=7", "id=" + id}, Advert{"1", "7", id}},
		{[]string{"ID=" + id, "Nameplate=123", "V=1", "color=red"}, Advert{"1", "123", id}},
	}
	for _, c := range ok {
		got, err := ParseTXT(entries(c.txt...))
		if err != nil || got != c.want {
			t.Errorf("ParseTXT(%q) = %+v, %v; want %+v", c.txt, got, err, c.want)
		}
	}
	bad := [][]string{
		{},
		{"v=2", "nameplate=7", "id=" + id},
		{"v=1", "nameplate=7"},
		{"v=1", "id=" + id},
		{"v=1", "nameplate=", "id=" + id},
		{"v=1", "nameplate=7a", "id=" + id},
		{"v=1", "nameplate=-7", "id=" + id},
		{"v=1", "nameplate=" + strings.Repeat("9", 41), "id=" + id},
		{"v=1", "nameplate=7", "id=0123456789ABCDEF"},
		{"v=1", "nameplate=7", "id=0123"},
		{"v=1", "nameplate=7", "id"},
		{"v=1", "nameplate=7", "nameplate=8", "id=" + id},
		{"v=1", "nameplate=\u0667", "id=" + id}, // an Arabic-Indic seven
	}
	for _, txt := range bad {
		if got, err := ParseTXT(entries(txt...)); err == nil {
			t.Errorf("ParseTXT(%q) = %+v, want an error", txt, got)
		}
	}
}

// TestTXTHasNoCode: the advert carries the nameplate and nothing else of
// the code, whatever the words.
func TestTXTHasNoCode(t *testing.T) {
	ad := Advert{Version: Version, Nameplate: "7", ID: NewID()}
	for _, e := range ad.TXT() {
		if bytes.Contains(e.Value, []byte("guitarist")) || e.Key != keyVersion && e.Key != keyNameplate && e.Key != keyID {
			t.Fatalf("unexpected TXT entry %q=%q", e.Key, e.Value)
		}
	}
	if !strings.HasPrefix(ad.instance(), "ferry-") || strings.Contains(ad.instance(), ad.Nameplate+"-") {
		t.Fatalf("instance name %q", ad.instance())
	}
}

// TestOnLAN: a mailbox is taken only on one of our networks, never at a
// network, broadcast or multicast address, or anywhere else.
func TestOnLAN(t *testing.T) {
	ifs := []lanIface{{prefixes: []netip.Prefix{netip.MustParsePrefix("10.78.0.1/24")}}}
	for addr, want := range map[string]bool{
		"10.78.0.2": true, "10.78.0.254": true, "::ffff:10.78.0.9": true,
		"10.78.0.0": false, "10.78.1.2": false, "127.0.0.1": false, "8.8.8.8": false,
		"224.0.0.251": false, "0.0.0.0": false, "255.255.255.255": false, "fe80::1": false,
	} {
		if got := onLAN(ifs, netip.MustParseAddr(addr)); got != want {
			t.Errorf("onLAN(%s) = %v, want %v", addr, got, want)
		}
	}
}

// txtSeeds are TXT records as they arrive: strings joined by NUL.
var txtSeeds = []string{
	"v=1\x00nameplate=7\x00id=0123456789abcdef",
	"V=1\x00NAMEPLATE=4242\x00ID=fedcba9876543210\x00extra",
	"v=1\x00nameplate=7\x00nameplate=8\x00id=0123456789abcdef",
	"v=1\x00nameplate=\x00id=0123456789abcdef",
	"v\x00nameplate\x00id",
	"=1\x00=\x00",
	"v=1\x00nameplate=\xd9\xa7\x00id=0123456789abcdef",
	"",
}

// FuzzParseTXT: whatever a device on the network announces, an advert
// that parses has version 1, a nameplate of ASCII digits and a 16-digit
// lower-case hex id, and survives a round trip through TXT.
func FuzzParseTXT(f *testing.F) {
	for _, s := range txtSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ad, err := ParseTXT(entries(strings.Split(s, "\x00")...))
		if err != nil {
			return
		}
		if ad.Version != Version || !validNameplate(ad.Nameplate) || !validID(ad.ID) {
			t.Fatalf("ParseTXT(%q) = %+v", s, ad)
		}
		for _, r := range ad.Nameplate + ad.ID {
			if r > 0x7f {
				t.Fatalf("ParseTXT(%q) kept non-ASCII %q", s, ad)
			}
		}
		back, err := ParseTXT(ad.TXT())
		if err != nil || back != ad {
			t.Fatalf("round trip of %+v: %+v, %v", ad, back, err)
		}
	})
}
