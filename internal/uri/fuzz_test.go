package uri

import (
	"strings"
	"testing"
)

var uriSeeds = []string{
	"wormhole-transfer:7-guitarist-revenge",
	"wormhole-transfer:8-a-b?version=0&rendezvous=wss%3A%2F%2Fexample.org%3A443&role=leader",
	"wormhole-transfer:4-a%20b%2Fc%3Fd",
	"wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2F127.0.0.1%3A4000",
	"wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2F127.0.0.1%3A4000%2Fv1",
	"wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2Frelay.magic-wormhole.io%3A4000&role=follower",
	"wormhole-transfer:8-a-b?role=leader&role=follower",
	"wormhole-transfer:8-a-b?color=red",
	"wormhole-transfer://host/8-a-b",
	"wormhole-transfer:8-%zz",
	"wormhole-transfer:8-a;b?x=1;y=2",
	"wormhole:8-a-b",
	"wormhole-transfer:",
}

// FuzzParse: a parsed URI names a code, a ws:// or wss:// rendezvous or
// none, and a role; formatting it (the rendezvous given back with the /v1
// a relay URL has) gives a URI that parses to the same transfer.
func FuzzParse(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := Parse(s)
		if err != nil {
			return
		}
		if tr.Code == "" {
			t.Fatalf("Parse(%q) has no code", s)
		}
		if r := tr.Rendezvous; r != "" && !strings.HasPrefix(r, "ws://") && !strings.HasPrefix(r, "wss://") {
			t.Fatalf("Parse(%q) rendezvous %q", s, r)
		}
		relayURL := tr.Rendezvous
		if relayURL != "" {
			relayURL += "/v1"
		}
		formatted := Format(Transfer{Code: tr.Code, Rendezvous: relayURL, Leader: tr.Leader})
		back, err := Parse(formatted)
		if tr.Rendezvous == DefaultRendezvous {
			tr.Rendezvous = ""
		}
		if err != nil || back != tr {
			t.Fatalf("Parse(%q) = %+v, formatted %q, parses as %+v (%v)", s, tr, formatted, back, err)
		}
	})
}

// FuzzFormat: Format writes only URI characters (printable ASCII, nothing
// a QR scanner or a terminal could trip on), and the URI parses back to the
// code, the rendezvous without /v1 and trailing slashes (none for the
// default) and the role.
func FuzzFormat(f *testing.F) {
	f.Add("7-guitarist-revenge", "ws://relay.magic-wormhole.io:4000/v1", false)
	f.Add("4-a b/c?d#e%f+g", "ws://127.0.0.1:4000/v1", true)
	f.Add("7-\x1b[2J\u202e", "wss://example.org:443", false)
	f.Add("7-x", "", true)
	f.Fuzz(func(t *testing.T, code, rendezvous string, leader bool) {
		if code == "" || !strings.HasPrefix(rendezvous, "ws://") && !strings.HasPrefix(rendezvous, "wss://") && rendezvous != "" {
			return
		}
		s := Format(Transfer{Code: code, Rendezvous: rendezvous, Leader: leader})
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f || strings.IndexByte(`"<>\^{|}`+"`", s[i]) >= 0 {
				t.Fatalf("Format wrote %q, with byte %#x", s, s[i])
			}
		}
		tr, err := Parse(s)
		base := strings.TrimSuffix(strings.TrimSuffix(rendezvous, "/"), "/v1")
		for b := ""; b != base; {
			b, base = base, strings.TrimSuffix(strings.TrimSuffix(base, "/"), "/v1")
		}
		if base == DefaultRendezvous {
			base = ""
		}
		if err != nil {
			// Only a rendezvous that is no ws:// URL with a host may fail.
			if base == "" || strings.Contains(err.Error(), "code") {
				t.Fatalf("Format(%q, %q) = %q does not parse: %v", code, rendezvous, s, err)
			}
			return
		}
		if tr.Code != code || tr.Rendezvous != base || tr.Leader != leader {
			t.Fatalf("Format(%q, %q, %v) = %q parses as %+v", code, rendezvous, leader, s, tr)
		}
	})
}
