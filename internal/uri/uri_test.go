package uri

import "testing"

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		in   Transfer
		want string
	}{
		{Transfer{Code: "7-guitarist-revenge"}, "wormhole-transfer:7-guitarist-revenge"},
		{Transfer{Code: "7-guitarist-revenge", Rendezvous: "ws://relay.magic-wormhole.io:4000/v1"}, "wormhole-transfer:7-guitarist-revenge"},
		{Transfer{Code: "4-a b/c?d"}, "wormhole-transfer:4-a%20b%2Fc%3Fd"},
		{Transfer{Code: "7-x-y", Rendezvous: "ws://127.0.0.1:4000/v1"}, "wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2F127.0.0.1%3A4000"},
		// the spec's rendezvous has no path: the client adds /v1
		{Transfer{Code: "7-x-y", Rendezvous: "ws://127.0.0.1:4000/v1/"}, "wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2F127.0.0.1%3A4000"},
		{Transfer{Code: "7-x-y", Rendezvous: "ws://127.0.0.1:4000/"}, "wormhole-transfer:7-x-y?rendezvous=ws%3A%2F%2F127.0.0.1%3A4000"},
		{Transfer{Code: "7-x-y", Rendezvous: "wss://example.org/wormhole/v1/"}, "wormhole-transfer:7-x-y?rendezvous=wss%3A%2F%2Fexample.org%2Fwormhole"},
		{Transfer{Code: "7-x-y", Rendezvous: "ws://relay.magic-wormhole.io:4000/v1/"}, "wormhole-transfer:7-x-y"},
	} {
		if got := Format(c.in); got != c.want {
			t.Errorf("Format(%+v) = %q, want %q", c.in, got, c.want)
		}
		back, err := Parse(c.want)
		if err != nil || back.Code != c.in.Code {
			t.Errorf("Parse(%q) = %+v, %v", c.want, back, err)
		}
	}
}

// TestRelayURL: a URI's rendezvous becomes the mailbox URL by adding /v1
// (uri-scheme.md: "the versioned endpoint is supposed to be added by the
// client"), once, whatever slash it ends with.
func TestRelayURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                      "",
		"ws://127.0.0.1:4000":   "ws://127.0.0.1:4000/v1",
		"ws://127.0.0.1:4000/":  "ws://127.0.0.1:4000/v1",
		"ws://h:1/v1":           "ws://h:1/v1",
		"ws://h:1/v1/":          "ws://h:1/v1",
		"wss://example.org/mbx": "wss://example.org/mbx/v1",
	} {
		if got := (Transfer{Rendezvous: in}).RelayURL(); got != want {
			t.Errorf("RelayURL of %q = %q, want %q", in, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	good, err := Parse("wormhole-transfer:8-a-b?version=0&rendezvous=wss%3A%2F%2Fexample.org%3A443&role=leader")
	if err != nil || good.Code != "8-a-b" || good.Rendezvous != "wss://example.org:443" || !good.Leader {
		t.Fatalf("Parse = %+v, %v", good, err)
	}
	for _, s := range []string{
		"wormhole:8-a-b",
		"wormhole-transfer:",
		"wormhole-transfer://host/8-a-b",
		"wormhole-transfer:8-a-b?version=1",
		"wormhole-transfer:8-a-b?color=red",
		"wormhole-transfer:8-a-b?role=boss",
		"wormhole-transfer:8-a-b?rendezvous=http%3A%2F%2Fx",
		"wormhole-transfer:8-a-b?role=leader&role=follower",
		"wormhole-transfer:8-%zz",
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded", s)
		}
	}
}
