package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsTransit is ferry's transit relay under test serving TCP clients on
// addr and WebSocket clients at url, its Handler mounted at /transit on
// an HTTP listener of its own.
type wsTransit struct {
	*transitRelay
	url string // ws://127.0.0.1:PORT/transit
}

// startWSTransit runs a TransitServer for cfg on loopback, over TCP and
// over WebSocket, until the test ends.
func startWSTransit(t testing.TB, cfg TransitConfig) *wsTransit {
	t.Helper()
	r := startTransit(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/transit", r.srv.Handler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	// Cleanups run last first: the HTTP server stops before Serve, whose
	// end closes the WebSocket connections Handler made.
	t.Cleanup(func() { hs.Close() })
	return &wsTransit{transitRelay: r, url: "ws://" + ln.Addr().String() + "/transit"}
}

// dialWSFrom opens a WebSocket to url from local address ip ("" for
// any), returning the HTTP response's status when the upgrade fails.
func dialWSFrom(t testing.TB, url, ip string) (*websocket.Conn, int, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	if ip != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ip)}
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return ws, 0, nil
}

// dialWSRaw opens a WebSocket to url or fails the test.
func dialWSRaw(t testing.TB, url, ip string) *websocket.Conn {
	t.Helper()
	ws, status, err := dialWSFrom(t, url, ip)
	if err != nil {
		t.Fatalf("websocket to %s from %q: HTTP %d, %v", url, ip, status, err)
	}
	return ws
}

// dialWS opens a WebSocket to url as a byte stream, each Write one binary
// message.
func dialWS(t testing.TB, url, ip string) net.Conn {
	t.Helper()
	return websocket.NetConn(context.Background(), dialWSRaw(t, url, ip), websocket.MessageBinary)
}

// wsRefused checks that a WebSocket to url from ip is refused with HTTP
// 503 before the upgrade.
func wsRefused(t testing.TB, url, ip string) {
	t.Helper()
	ws, status, err := dialWSFrom(t, url, ip)
	if err == nil {
		ws.CloseNow()
		t.Fatalf("websocket from %q accepted, want HTTP 503", ip)
	}
	if status != http.StatusServiceUnavailable {
		t.Fatalf("websocket from %q: HTTP %d, %v; want 503", ip, status, err)
	}
}

// writeMsg sends one binary message.
func writeMsg(t testing.TB, ws *websocket.Conn, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageBinary, []byte(s)); err != nil {
		t.Fatalf("write message %q: %v", s, err)
	}
}

// expectMsg reads one message and checks that it is binary and want.
func expectMsg(t testing.TB, ws *websocket.Conn, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageBinary || string(b) != want {
		t.Fatalf("read message %v %q, %v; want binary %q", typ, b, err, want)
	}
}

// expectClose reads until the relay ends the WebSocket and returns the
// close status (-1 for an end without a close frame); a message first
// fails the test.
func expectClose(t testing.TB, ws *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := ws.Read(ctx)
	switch {
	case err == nil:
		t.Fatalf("read message %v %q, want the end", typ, b)
	case ctx.Err() != nil:
		t.Fatalf("the relay did not end the websocket: %v", err)
	}
	return websocket.CloseStatus(err)
}

// wsReadToEnd reads c until it ends and returns what came; an end
// without a close frame counts as the end too, a timeout fails the test.
func wsReadToEnd(t testing.TB, c net.Conn) string {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { c.Close() })
	defer timer.Stop()
	b, err := io.ReadAll(c)
	if !timer.Stop() {
		t.Fatalf("the websocket did not end: read %q", b)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		t.Logf("websocket ended with %v", err)
	}
	return string(b)
}
