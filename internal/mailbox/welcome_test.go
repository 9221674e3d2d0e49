package mailbox

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestServiceAddr(t *testing.T) {
	for _, c := range []struct{ in, scheme, want string }{
		{"tcp:node1.example:4001", "tcp:", "node1.example:4001"},
		{"tcp:192.0.2.7:4001", "tcp:", "192.0.2.7:4001"},
		{"tcp:[2001:db8::1]:4001", "tcp:", "[2001:db8::1]:4001"},
		{"stun:node1.example.:3478", "stun:", "node1.example.:3478"},
		{"stun:node1.example:3478", "tcp:", ""}, // the wrong scheme
		{"node1.example:4001", "tcp:", ""},
		{"tcp:node1.example", "tcp:", ""},
		{"tcp:node1.example:0", "tcp:", ""},
		{"tcp:node1.example:65536", "tcp:", ""},
		{"tcp:node1.example:+80", "tcp:", ""},
		{"tcp:node1.example:080", "tcp:", ""},
		{"tcp::4001", "tcp:", ""},
		{"tcp:[fe80::1%eth0]:4001", "tcp:", ""},
		{"tcp:a b:4001", "tcp:", ""},
		{"tcp:evil.example/x:4001", "tcp:", ""},
		{"tcp:user@evil.example:4001", "tcp:", ""},
		{"tcp:-x.example:4001", "tcp:", ""},
		{"tcp:x..example:4001", "tcp:", ""},
		{"tcp:10.1:4001", "tcp:", ""},       // read as 10.0.0.1 by inet_aton
		{"tcp:2130706433:4001", "tcp:", ""}, // 127.0.0.1
		{"tcp:\x1b[2J.example:4001", "tcp:", ""},
		{"tcp:" + strings.Repeat("a.", 150) + "example:4001", "tcp:", ""},
		{"", "tcp:", ""},
	} {
		if got := ServiceAddr(c.in, c.scheme); got != c.want {
			t.Errorf("ServiceAddr(%q, %q) = %q, want %q", c.in, c.scheme, got, c.want)
		}
	}
	w, err := parseWelcome([]byte(`{"ferry_transit":"tcp:node1.example:4001","ferry_stun":"stun:node1.example:3478"}`))
	if err != nil || w.Transit != "node1.example:4001" || w.STUN != "node1.example:3478" {
		t.Errorf("welcome with services = %+v, %v", w, err)
	}
	w, err = parseWelcome([]byte(`{"motd":"hi","ferry_transit":"tcp:a b:1","ferry_stun":7}`))
	if err == nil && (w.Transit != "" || w.STUN != "") {
		t.Errorf("welcome with bad services = %+v", w)
	}
}

// FuzzServiceAddr: what ServiceAddr accepts is a HOST:PORT within the cap,
// of a host without spaces, slashes or @, and a port 1 to 65535, and it
// accepts it again.
func FuzzServiceAddr(f *testing.F) {
	for _, s := range []string{"tcp:node1.example:4001", "tcp:[2001:db8::1]:4001", "tcp:10.1:4001", "stun:a:3478", "tcp:[fe80::1%eth0]:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := ServiceAddr(s, "tcp:")
		if got == "" {
			return
		}
		host, port, err := net.SplitHostPort(got)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil || p < 1 || p > 65535 || host == "" || len(got) > MaxServiceAddr ||
			strings.ContainsAny(host, " /@%?#\\\x00") {
			t.Fatalf("ServiceAddr(%q) = %q", s, got)
		}
		if again := ServiceAddr("tcp:"+got, "tcp:"); again != got {
			t.Fatalf("ServiceAddr(tcp:%q) = %q, not itself", got, again)
		}
	})
}
