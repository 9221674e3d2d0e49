package mailbox

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/ferrydrop/ferry/relay"
)

// TestHashcashBind: against a relay that requires a hashcash stamp, Bind
// mints and submits one first, and the client goes on as usual; the
// welcome's your-address comes back.
func TestHashcashBind(t *testing.T) {
	s, err := relay.New(relay.Config{HashcashBits: 12})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	url := "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
	c, w, err := Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if w.YourAddress != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("YourAddress = %v, want 127.0.0.1", w.YourAddress)
	}
	if err := c.Bind(ctx(t), "test/app", "aaaa", [2]string{"ferry-test", "0"}); err != nil {
		t.Fatalf("Bind = %v", err)
	}
	if _, err := c.Allocate(ctx(t)); err != nil {
		t.Fatalf("Allocate after a hashcash bind: %v", err)
	}
}

// TestPermissionMethods: "none" means bind as usual; methods ferry does
// not know, and more work than hashcash.MaxBits, are refused with a
// clear error before anything is sent.
func TestPermissionMethods(t *testing.T) {
	bound := func(msg map[string]any) []string {
		if msg["type"] == "submit-permissions" {
			t.Errorf("submitted %v", msg)
		}
		return []string{`{"type":"ack","id":"$ID"}`}
	}
	for welcome, want := range map[string]string{
		`{"none":{},"hashcash":{"bits":6,"resource":"r"}}`: "",
		`{"pow9":{"x":1},"ticket":{}}`:                     `the relay requires permission by a method ferry does not know ("pow9", "ticket")`,
		`{"hashcash":{"bits":40,"resource":"r"}}`:          "hashcash of 40 bits asked for; ferry does at most 28",
		`{"hashcash":{"bits":8,"resource":"a:b"}}`:         "without ':'",
		`"junk"`: "method ferry does not know ()",
	} {
		url := scripted(t, `{"type":"welcome","welcome":{"permission-required":`+welcome+`}}`, bound)
		c, _, err := Dial(ctx(t), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Bind(ctx(t), "test/app", "aaaa", [2]string{"ferry-test", "0"})
		c.Close()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: Bind = %v", welcome, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: Bind = %v, want an error with %q", welcome, err, want)
		}
	}
}

func TestYourAddress(t *testing.T) {
	for raw, want := range map[string]string{
		`{"ipv4":"203.0.113.7","port":5}`:   "203.0.113.7",
		`{"ipv6":"2001:db8::1","port":5}`:   "2001:db8::1",
		`{"ipv4":"::ffff:198.51.100.1"}`:    "198.51.100.1",
		`{"ipv6":"::ffff:198.51.100.1"}`:    "invalid IP",
		`{"ipv4":"not an address"}`:         "invalid IP",
		`"junk"`:                            "invalid IP",
		`{"ipv4":"2001:db8::1","port":"x"}`: "invalid IP",
	} {
		if got := yourAddress([]byte(raw)).String(); got != want {
			t.Errorf("yourAddress(%s) = %s, want %s", raw, got, want)
		}
	}
}
