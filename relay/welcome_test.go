package relay

import (
	"net"
	"strings"
	"testing"
)

// TestWelcomeServices: a node's welcome names its own transit relay and
// STUN server (ferry_transit, ferry_stun): at its public host when it has
// one, else at the host the client asked for; a node without them names
// neither.
func TestWelcomeServices(t *testing.T) {
	welcome := func(cfg Config) map[string]any {
		t.Helper()
		_, url := startServer(t, cfg)
		_, w := dial(t, url)
		return w["welcome"].(map[string]any)
	}
	w := welcome(Config{Transit: "node1.example:4001", STUN: "192.0.2.7:3478"})
	if w["ferry_transit"] != "tcp:node1.example:4001" || w["ferry_stun"] != "stun:192.0.2.7:3478" {
		t.Errorf("with a public host: ferry_transit %v, ferry_stun %v", w["ferry_transit"], w["ferry_stun"])
	}
	w = welcome(Config{Transit: ":4001"})
	if w["ferry_transit"] != "tcp:127.0.0.1:4001" {
		t.Errorf("without a public host: ferry_transit %v, want the host the client dialled", w["ferry_transit"])
	}
	if got, ok := w["ferry_stun"]; ok {
		t.Errorf("no STUN server, but ferry_stun %v", got)
	}
	// the client's Host, a name
	_, url := startServer(t, Config{Transit: ":4001", STUN: ":3478"})
	_, port, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/v1"))
	_, w0 := dial(t, "ws://localhost:"+port+"/v1")
	w = w0["welcome"].(map[string]any)
	if w["ferry_transit"] != "tcp:localhost:4001" || w["ferry_stun"] != "stun:localhost:3478" {
		t.Errorf("via localhost: ferry_transit %v, ferry_stun %v", w["ferry_transit"], w["ferry_stun"])
	}
	w = welcome(Config{})
	for _, k := range []string{"ferry_transit", "ferry_stun"} {
		if got, ok := w[k]; ok {
			t.Errorf("a node without services has %s %v", k, got)
		}
	}
}

// TestServiceURL: the welcome's value from Config and the client's Host;
// a Host that is not a name or an address gives none.
func TestServiceURL(t *testing.T) {
	for _, c := range []struct{ addr, host, want string }{
		{":4001", "relay.example:4000", "tcp:relay.example:4001"},
		{":4001", "relay.example", "tcp:relay.example:4001"},
		{":4001", "[2001:db8::1]:4000", "tcp:[2001:db8::1]:4001"},
		{":4001", "a b:4000", ""},
		{":4001", "evil.example/x:4000", ""},
		{":4001", "", ""},
		{":4001", "10.1:4000", ""},
		{":4001", "[fe80::1%eth0]:4000", ""},
		{"node.example:4001", "a b", "tcp:node.example:4001"},
		{"", "relay.example", ""},
	} {
		if got := serviceURL("tcp:", c.addr, c.host); got != c.want {
			t.Errorf("serviceURL(%q, %q) = %q, want %q", c.addr, c.host, got, c.want)
		}
	}
	for _, bad := range []string{"4001", "node:0", "node:65536", "node:+1", "a b:4001", "node..x:1", "10.1:4001"} {
		if _, err := New(Config{Transit: bad}); err == nil {
			t.Errorf("New accepted Transit %q", bad)
		}
	}
}
