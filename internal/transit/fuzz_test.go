package transit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// scriptConn is a connection whose peer sends a fixed script and then
// closes its side; what we write is recorded.
type scriptConn struct {
	in      *bytes.Reader
	out     bytes.Buffer
	closed  bool
	cleared bool // the deadline was last set to none
}

func (c *scriptConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *scriptConn) Close() error                { c.closed = true; return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *scriptConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *scriptConn) SetDeadline(t time.Time) error {
	c.cleared = t.IsZero()
	return nil
}
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

var fuzzKey = []byte("0123456789abcdef0123456789abcdef")

// pleaseRelayRE is the line a client sends a transit relay, with the
// token of fuzzKey.
var pleaseRelayRE = regexp.MustCompile(`^please relay ` + hex.EncodeToString(derive(fuzzKey, "transit_relay_token")) + ` for side [0-9a-f]{16}\n`)

// FuzzHandshake plays a peer (or a transit relay, then a peer) that sends
// a script of bytes, against both roles' handshake. Properties: the
// connection wins exactly when the script starts with the peer's line
// ("transit sender|receiver HEX ready\n\n", plus "go\n" for a receiver),
// after "ok\n" when through a relay; we write our own line first (after
// "please relay TOKEN for side SIDE\n"), a sender "go\n" only when it won;
// a loser is closed, a winner is not and has no deadline left.
func FuzzHandshake(f *testing.F) {
	sline, rline := handshakes(fuzzKey, Sender)
	for _, s := range []string{
		string(rline),
		string(sline) + "go\n",
		string(sline) + "nevermind\n",
		string(rline[:len(rline)-1]),
		"ok\n" + string(rline),
		"ok\n" + string(sline) + "go\n",
		"bad handshake\n",
		"transit receiver 0000 ready\n\n",
		"GET / HTTP/1.1\r\n\r\n",
		"",
	} {
		for _, receiver := range []bool{false, true} {
			f.Add([]byte(s), receiver, strings.HasPrefix(s, "ok\n"))
		}
	}
	f.Fuzz(func(t *testing.T, script []byte, receiver, viaRelay bool) {
		role := Sender
		if receiver {
			role = Receiver
		}
		mine, theirs := handshakes(fuzzKey, role)
		want := theirs
		if role == Receiver {
			want = append(bytes.Clone(theirs), "go\n"...)
		}
		r := &race{key: fuzzKey, role: role, won: make(chan winner, 1), log: slog.New(slog.DiscardHandler)}
		c := &scriptConn{in: bytes.NewReader(script)}
		ctx := context.Background()
		wrote := []byte{}
		if viaRelay {
			r.relay(ctx, func(context.Context, string) (net.Conn, error) { return c, nil }, "192.0.2.1:4001", "0123456789abcdef", 0)
			line := pleaseRelayRE.Find(c.out.Bytes())
			if line == nil {
				t.Fatalf("asked the relay with %q", c.out.Bytes())
			}
			wrote = line
			want = append([]byte("ok\n"), want...)
		} else {
			r.try(ctx, c, PathDirect)
		}
		var won bool
		select {
		case w := <-r.won:
			won = true
			if w.c != c {
				t.Fatal("a different connection won")
			}
		default:
		}
		if won != bytes.HasPrefix(script, want) {
			t.Fatalf("%s via relay %v: won %v with script %q", roleName(role), viaRelay, won, script)
		}
		if won && (c.closed || !c.cleared) || !won && !c.closed {
			t.Fatalf("won %v, closed %v, deadline cleared %v", won, c.closed, c.cleared)
		}
		out := c.out.Bytes()[len(wrote):]
		if viaRelay && !bytes.HasPrefix(script, []byte("ok\n")) {
			if len(out) != 0 {
				t.Fatalf("sent %q through a relay that did not say ok", out)
			}
			return
		}
		if !bytes.HasPrefix(out, mine) {
			t.Fatalf("%s wrote %q, want its line first", roleName(role), out)
		}
		rest := string(out[len(mine):])
		if role == Sender && won && rest != "go\n" || (role == Receiver || !won) && rest != "" {
			t.Fatalf("%s (won %v) wrote %q after its line", roleName(role), won, rest)
		}
	})
}

func roleName(r Role) string {
	if r == Sender {
		return "sender"
	}
	return "receiver"
}

// FuzzFilterHints: of a peer's hints (JSON, as they arrive in a transit or
// offer message) FilterHints keeps at most MaxHints, no duplicates, only
// IP literals with a port in 1..65535 that a connection can go to (not
// unspecified, multicast, broadcast or zoned), each from a hint given.
func FuzzFilterHints(f *testing.F) {
	for _, s := range []string{
		`[{"type":"direct-tcp-v1","hostname":"192.168.1.20","port":50000,"priority":1},{"type":"direct-tcp-v1","hostname":"127.0.0.1","port":50000,"priority":0.5}]`,
		`[{"hostname":"::ffff:10.0.0.1","port":1},{"hostname":"10.0.0.1","port":1}]`,
		`[{"hostname":"fe80::1%eth0","port":9},{"hostname":"224.0.0.1","port":9},{"hostname":"255.255.255.255","port":9},{"hostname":"0.0.0.0","port":9},{"hostname":"::","port":9}]`,
		`[{"hostname":"example.com","port":80},{"hostname":"192.0.2.1","port":0},{"hostname":"192.0.2.1","port":65536},{"hostname":"192.0.2.1","port":-1}]`,
		`[{"hostname":"2001:db8::1","port":443}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var hints []Hint
		if json.Unmarshal(data, &hints) != nil {
			return
		}
		given := map[netip.AddrPort]bool{}
		for _, h := range hints {
			if ip, err := netip.ParseAddr(h.Hostname); err == nil && h.Port > 0 && h.Port <= 65535 {
				given[netip.AddrPortFrom(ip.Unmap(), uint16(h.Port))] = true
			}
		}
		out := FilterHints(hints)
		if len(out) > MaxHints {
			t.Fatalf("%d hints kept, more than %d", len(out), MaxHints)
		}
		seen := map[netip.AddrPort]bool{}
		for _, ap := range out {
			ip := ap.Addr()
			switch {
			case seen[ap]:
				t.Fatalf("%v kept twice", ap)
			case !given[ap]:
				t.Fatalf("%v is not one of the hints", ap)
			case ap.Port() == 0, !ip.IsValid(), ip.Is4In6(), ip.IsUnspecified(), ip.IsMulticast(), ip.Zone() != "",
				ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
				t.Fatalf("kept %v", ap)
			}
			seen[ap] = true
		}
	})
}
