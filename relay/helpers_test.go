package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startServer runs a Server for cfg behind an httptest server and returns
// it with its ws:// URL. Both are shut down when the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ts.Close()
	})
	return s, "ws" + strings.TrimPrefix(ts.URL, "http") + "/v1"
}

// fakeClock is an adjustable clock for Config.now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// wsClient is a raw protocol client for tests.
type wsClient struct {
	t      testing.TB
	ws     *websocket.Conn
	nextID int
}

// dialFrom opens a websocket to url from local address ip ("" for any).
// Linux accepts any 127.0.0.0/8 source address on loopback, which lets
// tests act as clients from different IPs.
func dialFrom(ctx context.Context, url, ip string) (*websocket.Conn, *http.Response, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc})
	if err == nil {
		ws.SetReadLimit(1 << 20)
	}
	return ws, resp, err
}

// dial connects to url and returns the client with the welcome message.
func dial(t testing.TB, url string) (*wsClient, map[string]any) {
	return dialIP(t, url, "")
}

func dialIP(t testing.TB, url, ip string) (*wsClient, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := dialFrom(ctx, url, ip)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c := &wsClient{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	return c, c.expect("welcome")
}

func (c *wsClient) close() { c.ws.Close(websocket.StatusNormalClosure, "") }

func (c *wsClient) writeRaw(typ websocket.MessageType, b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.ws.Write(ctx, typ, b)
}

func (c *wsClient) write(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.writeRaw(websocket.MessageText, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readErr reads one message, or returns the error that ended the connection.
// Its bound only catches a relay that never answers: 5 s once ran out for
// an answer on a loaded machine (TestTotalLimits, with the whole suite and a
// 10,000-client load beside it).
func (c *wsClient) readErr() (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	typ, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		return nil, fmt.Errorf("server sent a %v frame", typ)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("server sent %q: %w", b, err)
	}
	if _, ok := m["server_tx"].(float64); !ok {
		return nil, fmt.Errorf("server sent %q without a numeric server_tx", b)
	}
	return m, nil
}

func (c *wsClient) read() map[string]any {
	c.t.Helper()
	m, err := c.readErr()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// expect reads one message and checks its type.
func (c *wsClient) expect(typ string) map[string]any {
	c.t.Helper()
	m := c.read()
	if m["type"] != typ {
		c.t.Fatalf("got %v, want a %q message", m, typ)
	}
	return m
}

// command sends a command with a fresh id, built from type and key/value
// pairs, and checks that the next message acks it.
func (c *wsClient) command(typ string, kv ...any) {
	c.t.Helper()
	c.nextID++
	id := fmt.Sprintf("%04x", c.nextID)
	msg := map[string]any{"type": typ, "id": id}
	for i := 0; i+1 < len(kv); i += 2 {
		msg[kv[i].(string)] = kv[i+1]
	}
	c.write(msg)
	if ack := c.expect("ack"); ack["id"] != id {
		c.t.Fatalf("ack %v does not carry id %q", ack, id)
	}
}

// request sends a command and expects a reply of type reply after the ack.
func (c *wsClient) request(reply, typ string, kv ...any) map[string]any {
	c.t.Helper()
	c.command(typ, kv...)
	return c.expect(reply)
}

// refused sends a command and returns the error text of the reply.
func (c *wsClient) refused(typ string, kv ...any) string {
	c.t.Helper()
	m := c.request("error", typ, kv...)
	if _, ok := m["orig"]; !ok {
		c.t.Fatalf("error %v has no orig", m)
	}
	return m["error"].(string)
}

func (c *wsClient) bind(app, side string) {
	c.t.Helper()
	c.command("bind", "appid", app, "side", side, "client_version", []string{"test", "0"})
}

// sync does a ping round trip, so that everything the server sent this
// client before has been read.
func (c *wsClient) sync() {
	c.t.Helper()
	if m := c.request("pong", "ping", "ping", 99); m["pong"] != float64(99) {
		c.t.Fatalf("pong = %v", m)
	}
}

// expectMessage reads a mailbox message and checks its side, phase and body.
func (c *wsClient) expectMessage(side, phase, body string) map[string]any {
	c.t.Helper()
	m := c.expect("message")
	if m["side"] != side || m["phase"] != phase || m["body"] != body {
		c.t.Fatalf("got message %v, want side %q phase %q body %q", m, side, phase, body)
	}
	return m
}

// closeStatus waits for the server to end the connection and returns the
// close status (-1 if it was cut without one).
func (c *wsClient) closeStatus() websocket.StatusCode {
	c.t.Helper()
	for {
		_, err := c.readErr()
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 10*time.Second, what, cond)
}

// waitWithin is waitFor with its own bound.
func waitWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) connCount() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.nConns
}

func (s *Server) hasMailbox(app, id string) bool {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	_, ok, err := s.state.store.mailbox(app, id)
	if err != nil {
		panic(err)
	}
	return ok
}

func (s *Server) hasNameplate(app, name string) bool {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	_, ok, err := s.state.store.nameplate(app, name)
	if err != nil {
		panic(err)
	}
	return ok
}
