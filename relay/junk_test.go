package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestJunkFrames(t *testing.T) {
	_, url := startServer(t, Config{})
	c, _ := dial(t, url)

	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)

	cases := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		ack   bool   // an ack comes before the error
		want  string // the error text
	}{
		{"not JSON", websocket.MessageText, "hello there", false, "message is not valid JSON"},
		{"truncated", websocket.MessageText, `{"type":"ping"`, false, "message is not valid JSON"},
		{"array", websocket.MessageText, `[1,2,3]`, false, "message is not a JSON object"},
		{"number", websocket.MessageText, `42`, false, "message is not a JSON object"},
		{"null", websocket.MessageText, `null`, false, "message is not a JSON object"},
		{"string", websocket.MessageText, `"bind"`, false, "message is not a JSON object"},
		{"empty", websocket.MessageText, ``, false, "message is not valid JSON"},
		{"deeply nested", websocket.MessageText, deep, false, "message is not valid JSON"},
		{"binary garbage", websocket.MessageBinary, string(garbage), false, "message is not valid JSON"},
		{"missing type", websocket.MessageText, `{"id":"x","side":"y"}`, false, "missing 'type'"},
		{"numeric type", websocket.MessageText, `{"type":5,"id":"x"}`, true, "must bind first"},
		{"ping without ping", websocket.MessageBinary, `{"type":"ping"}`, true, "ping requires 'ping'"},
		{"numeric appid", websocket.MessageText, `{"type":"bind","appid":5,"side":"s"}`, true, "'appid' must be a string"},
		{"null side", websocket.MessageText, `{"type":"bind","appid":"a","side":null}`, true, "'side' must be a string"},
		{"empty side", websocket.MessageText, `{"type":"bind","appid":"a","side":""}`, true, "'side' must be 1 to 256 bytes long"},
		{"long appid", websocket.MessageText, `{"type":"bind","appid":"` + strings.Repeat("a", 300) + `","side":"s"}`, true, "'appid' must be 1 to 256 bytes long"},
	}
	for _, tc := range cases {
		if err := c.writeRaw(tc.typ, []byte(tc.frame)); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		if tc.ack {
			c.expect("ack")
		}
		m := c.expect("error")
		if m["error"] != tc.want {
			t.Errorf("%s: error %q, want %q", tc.name, m["error"], tc.want)
		}
		if _, ok := m["orig"]; !ok {
			t.Errorf("%s: error without orig", tc.name)
		}
	}

	// Binary frames are accepted, and invalid UTF-8 never comes back raw.
	if err := c.writeRaw(websocket.MessageBinary, []byte("{\"type\":\"ping\",\"ping\":\"\xff\xfeok\"}")); err != nil {
		t.Fatal(err)
	}
	c.expect("ack")
	if got := c.expect("pong")["pong"]; got != "\uFFFDok" {
		t.Errorf("pong = %q", got)
	}

	c.bind(testApp, "aaaa")
	for _, tc := range []struct {
		typ  string
		kv   []any
		want string
	}{
		{"claim", []any{"nameplate", 7}, "'nameplate' must be a string"},
		{"open", []any{"mailbox", []int{1}}, "'mailbox' must be a string"},
		{"open", []any{"mailbox", strings.Repeat("m", 300)}, "'mailbox' must be 1 to 256 bytes long"},
		{"add", []any{"phase", "p", "body", "00"}, "must open mailbox before adding"},
		{"release", []any{"nameplate", false}, "'nameplate' must be a string"},
		{"close", []any{"mailbox", 1.5}, "'mailbox' must be a string"},
	} {
		if got := c.refused(tc.typ, tc.kv...); got != tc.want {
			t.Errorf("%s %v: %q, want %q", tc.typ, tc.kv, got, tc.want)
		}
	}
	c.command("open", "mailbox", "mbx")
	if got := c.refused("add", "phase", "p", "body", map[string]any{}); got != "'body' must be a string" {
		t.Errorf("object body: %q", got)
	}
	if got := c.refused("add", "phase", nil, "body", "00"); got != "'phase' must be a string" {
		t.Errorf("null phase: %q", got)
	}
	// After all that, the connection still works.
	c.command("add", "phase", "p", "body", "00")
	c.expectMessage("aaaa", "p", "00")
	c.sync()
}

func TestHugeFrame(t *testing.T) {
	_, url := startServer(t, Config{MaxFrameBytes: 8 << 10})
	c, _ := dial(t, url)
	// Just under the limit is fine.
	c.request("pong", "ping", "ping", strings.Repeat("x", 7<<10))
	// Over it, the connection is closed as "message too big".
	big := fmt.Sprintf(`{"type":"ping","ping":"%s"}`, strings.Repeat("x", 1<<20))
	c.writeRaw(websocket.MessageText, []byte(big)) // may fail once the server hangs up
	if got := c.closeStatus(); got != websocket.StatusMessageTooBig {
		t.Errorf("close status %v, want %v", got, websocket.StatusMessageTooBig)
	}
	d, _ := dial(t, url)
	d.bind(testApp, "dddd")
	d.request("allocated", "allocate")
}

func TestAllocationFlood(t *testing.T) {
	s, url := startServer(t, Config{})
	c, _ := dial(t, url)
	c.bind(testApp, "flood")
	const n = 2000
	for i := range n {
		c.write(map[string]any{"type": "allocate", "id": fmt.Sprint(i)})
	}
	allocated, refused := 0, 0
	for acks := 0; acks < n || allocated+refused < n; {
		m := c.read()
		switch m["type"] {
		case "ack":
			acks++
		case "allocated":
			allocated++
		case "error":
			if m["error"] != "you already allocated one, don't be greedy" {
				t.Fatalf("unexpected error %v", m)
			}
			refused++
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	c.sync()
	if allocated != 1 || refused != n-1 {
		t.Errorf("allocated %d, refused %d; want 1 and %d", allocated, refused, n-1)
	}
	s.state.mu.Lock()
	nps, _ := s.state.store.counts()
	s.state.mu.Unlock()
	if nps != 1 {
		t.Errorf("%d nameplates exist after the flood, want 1", nps)
	}
	fresh, _ := dial(t, url)
	fresh.bind(testApp, "fresh")
	if got := fresh.request("allocated", "allocate")["nameplate"]; got != "2" {
		t.Errorf("fresh client allocated %v", got)
	}
}

func TestNameplatesPerIP(t *testing.T) {
	s, url := startServer(t, Config{MaxNameplatesPerIP: 5, MaxConnsPerIP: 8})
	var flooders []*wsClient
	for i := range 8 {
		c, _ := dialIP(t, url, "127.0.0.2")
		c.bind(testApp, fmt.Sprintf("side%d", i))
		c.command("allocate")
		m := c.read()
		switch {
		case i < 5 && m["type"] != "allocated":
			t.Fatalf("allocation %d refused: %v", i, m)
		case i >= 5 && m["error"] != "too many nameplates from your address":
			t.Fatalf("allocation %d: %v, want a refusal", i, m)
		}
		flooders = append(flooders, c)
	}
	// The per-IP connection limit is reached too.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, resp, err := dialFrom(ctx, url, "127.0.0.2"); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("ninth connection from one address: err %v, resp %v; want HTTP 503", err, resp)
	}
	// Another address is unaffected.
	other, _ := dialIP(t, url, "127.0.0.3")
	other.bind(testApp, "other")
	other.request("allocated", "allocate")
	other.request("claimed", "claim", "nameplate", "2") // claiming an existing one is no new nameplate

	// Releasing frees the address's quota again.
	for _, c := range flooders {
		c.close()
	}
	waitFor(t, "flooders to disconnect", func() bool { return s.connCount() == 1 })
	c, _ := dialIP(t, url, "127.0.0.2")
	c.bind(testApp, "side0")
	c.request("released", "release", "nameplate", "1")
	d, _ := dialIP(t, url, "127.0.0.2")
	d.bind(testApp, "side9")
	d.request("allocated", "allocate")
}

func TestTotalLimits(t *testing.T) {
	_, url := startServer(t, Config{MaxNameplates: 2, MaxMailboxes: 3})
	for i := range 2 {
		c, _ := dial(t, url)
		c.bind(testApp, "s")
		c.request("claimed", "claim", "nameplate", fmt.Sprint(i+1))
	}
	c, _ := dial(t, url)
	c.bind(testApp, "s")
	if got := c.refused("claim", "nameplate", "3"); got != "too many nameplates, try again later" {
		t.Errorf("third nameplate: %q", got)
	}
	c.command("open", "mailbox", "bare") // the third mailbox
	c.sync()                             // handled before D asks for a fourth
	d, _ := dial(t, url)
	d.bind(testApp, "s")
	if got := d.refused("open", "mailbox", "bare2"); got != "too many mailboxes, try again later" {
		t.Errorf("fourth mailbox: %q", got)
	}
	// Existing ones stay usable.
	d.request("claimed", "claim", "nameplate", "1")
}

func TestConnLimits(t *testing.T) {
	s, url := startServer(t, Config{MaxConns: 3, MaxConnsPerIP: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	refused := func(ip string) {
		t.Helper()
		ws, resp, err := dialFrom(ctx, url, ip)
		if err == nil {
			ws.CloseNow()
			t.Fatalf("connection from %s accepted over the limit", ip)
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("connection from %s: %v, want HTTP 503", ip, err)
		}
	}
	a1, _ := dialIP(t, url, "127.0.0.2")
	dialIP(t, url, "127.0.0.2")
	refused("127.0.0.2") // per address
	dialIP(t, url, "127.0.0.3")
	refused("127.0.0.4") // overall
	a1.close()
	waitFor(t, "a slot to free up", func() bool { return s.connCount() == 2 })
	c, _ := dialIP(t, url, "127.0.0.4")
	c.sync()
}

func TestSlowClientDropped(t *testing.T) {
	s, url := startServer(t, Config{MaxSendQueueBytes: 64 << 10, WriteTimeout: time.Minute})
	fast, _ := dial(t, url)
	fast.bind(testApp, "fast")
	fast.command("open", "mailbox", "shared")

	slow, _ := dial(t, url)
	slow.bind(testApp, "slow")
	slow.command("open", "mailbox", "shared")
	// The slow client asks for big pongs and never reads them. Once the
	// socket buffers are full, its queue overflows and it is dropped.
	payload := strings.Repeat("p", 32<<10)
	frame := []byte(fmt.Sprintf(`{"type":"ping","ping":"%s"}`, payload))
	for i := 0; i < 4000 && s.connCount() == 2; i++ {
		if err := slow.writeRaw(websocket.MessageText, frame); err != nil {
			break
		}
		if i%50 == 0 {
			// Meanwhile everyone else is served promptly.
			start := time.Now()
			fast.command("add", "phase", "p", "body", "00")
			fast.expectMessage("fast", "p", "00")
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("a slow client held up another for %v", d)
			}
		}
	}
	waitFor(t, "the slow client to be dropped", func() bool { return s.connCount() == 1 })
	fast.sync()
}
