package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// relayWelcome is the welcome of the ferry relay whose mailbox is at addr,
// asked for by the name host.
func relayWelcome(t *testing.T, addr, host string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1", &websocket.DialOptions{Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Welcome map[string]any `json:"welcome"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("welcome %q: %v", b, err)
	}
	return m.Welcome
}

// TestRelayWelcomeServices: ferry relay's welcome names the node's own
// transit relay and STUN server at --public-host, whatever name the
// client used; without --public-host at the name the client used; and
// without a transit relay or STUN server neither key.
func TestRelayWelcomeServices(t *testing.T) {
	n := startPublicHostNode(t, "a-secret")
	stunPort := regexpFind(n.stderr.String(), `STUN on stun:127\.0\.0\.1:(\d+)`)
	w := relayWelcome(t, n.mailbox, "relay.example")
	if w["ferry_transit"] != "tcp:"+n.transit || w["ferry_stun"] != "stun:127.0.0.1:"+stunPort {
		t.Errorf("with --public-host: ferry_transit %v, ferry_stun %v; want tcp:%s, stun:127.0.0.1:%s", w["ferry_transit"], w["ferry_stun"], n.transit, stunPort)
	}

	addr, transit := startRelayNode(t, "--transit-listen", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(transit)
	w = relayWelcome(t, addr, "relay.example:4000")
	if w["ferry_transit"] != "tcp:relay.example:"+port {
		t.Errorf("without --public-host: ferry_transit %v, want tcp:relay.example:%s", w["ferry_transit"], port)
	}
	if v, ok := w["ferry_stun"]; ok {
		t.Errorf("without a STUN server: ferry_stun %v", v)
	}

	addr, _ = startRelayNode(t)
	w = relayWelcome(t, addr, "")
	for _, k := range []string{"ferry_transit", "ferry_stun"} {
		if v, ok := w[k]; ok {
			t.Errorf("without a transit relay or STUN: %s %v", k, v)
		}
	}
}

// startRelayNode runs ferry relay on loopback with extra flags and
// returns its mailbox address and, if it runs one, its transit relay's.
func startRelayNode(t *testing.T, flags ...string) (mailbox, transit string) {
	t.Helper()
	stderr := &lockedBuffer{}
	c := newCLI(strings.NewReader(""), io.Discard, stderr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- c.run(ctx, append([]string{"relay", "--listen", "127.0.0.1:0"}, flags...)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("relay exited %d:\n%s", code, stderr.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("relay did not log its addresses:\n%s", stderr.String())
		}
		s := stderr.String()
		mailbox = regexpFind(s, `relay listening on ws://(\S+)/v1`)
		if len(flags) > 0 {
			transit = regexpFind(s, `transit relay on tcp:(\S+)`)
		}
		if mailbox != "" && (len(flags) == 0 || transit != "") {
			return mailbox, transit
		}
	}
}

// regexpFind is the first group of re's first match in s, or "".
func regexpFind(s, re string) string {
	if m := regexp.MustCompile(re).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}
