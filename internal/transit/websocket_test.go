package transit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ferrydrop/ferry/relay"
)

// startFerryTransit runs ferry's transit relay on loopback until the test
// ends, over TCP and over WebSocket, and returns its TCP address and its
// WebSocket URL.
func startFerryTransit(t *testing.T) (addr, url string) {
	t.Helper()
	srv := relay.NewTransit(relay.TransitConfig{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	mux := http.NewServeMux()
	mux.Handle("/transit", srv.Handler())
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("transit relay: %v", err)
		}
	})
	return ln.Addr().String(), "ws" + strings.TrimPrefix(hs.URL, "http") + "/transit"
}

// TestRaceWebSocketRelay: one side reaches ferry's transit relay over
// TCP, the other over WebSocket with DialWebSocket; they pair, the
// transit handshake completes and data flows both ways, in either role.
func TestRaceWebSocketRelay(t *testing.T) {
	addr, url := startFerryTransit(t)
	for _, wsRole := range []Role{Receiver, Sender} {
		t.Run(map[Role]string{Sender: "websocket sender", Receiver: "websocket receiver"}[wsRole], func(t *testing.T) {
			// a key (so a relay token) of its own: the relay refuses a
			// token whose last pair it has not yet seen end
			key := []byte(t.Name())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			type res struct {
				c    net.Conn
				path string
				err  error
			}
			wsc := make(chan res, 1)
			go func() {
				c, path, err := Race(ctx, Config{Key: key, Role: wsRole, Relays: []string{url}, Dial: DialWebSocket})
				wsc <- res{c, path, err}
			}()
			tcp, path, err := Race(ctx, Config{Key: key, Role: 1 - wsRole, Relays: []string{addr}})
			if err != nil || path != PathRelay {
				t.Fatalf("TCP side: %v, path %q", err, path)
			}
			defer tcp.Close()
			r := <-wsc
			if r.err != nil || r.path != PathRelay {
				t.Fatalf("websocket side: %v, path %q", r.err, r.path)
			}
			ws := r.c
			defer ws.Close()
			for _, dir := range []struct {
				from, to net.Conn
				msg      string
			}{{tcp, ws, "over tcp, then websocket"}, {ws, tcp, "over websocket, then tcp"}} {
				dir.from.SetDeadline(time.Now().Add(10 * time.Second))
				dir.to.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(dir.from, dir.msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(dir.msg))
				if _, err := io.ReadFull(dir.to, got); err != nil || string(got) != dir.msg {
					t.Fatalf("read %q, %v; want %q", got, err, dir.msg)
				}
			}
			// The websocket side's close reaches the TCP side as the end.
			io.WriteString(ws, "bye")
			ws.Close()
			if got, err := io.ReadAll(tcp); err != nil || string(got) != "bye" {
				t.Errorf("TCP side read %q, %v after the websocket side closed; want %q", got, err, "bye")
			}
		})
	}
}

// wsServer runs handle for each WebSocket a test's client opens.
func wsServer(t *testing.T, handle func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		handle(r.Context(), ws)
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func dialWS(t *testing.T, url string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialWebSocket(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestDialWebSocketDeadline: a read deadline that passes fails that Read
// as a timeout and leaves the connection working, as on TCP (Race's
// receiver waits briefly for the sender's line, then speaks first).
func TestDialWebSocketDeadline(t *testing.T) {
	late := make(chan struct{})
	url := wsServer(t, func(ctx context.Context, ws *websocket.Conn) {
		<-late
		ws.Write(ctx, websocket.MessageBinary, []byte("late"))
		ws.Read(ctx) // until the client closes
	})
	c := dialWS(t, url)
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 4)
	_, err := c.Read(buf)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	close(late)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "late" {
		t.Fatalf("after the timeout read %q, %v; want %q", buf, err, "late")
	}
}

// TestDialWebSocketReadLimit: a message over MaxWebSocketMessage ends the
// connection with an error once the limit is passed (natively the bytes
// stream through as they come, so up to the limit of it may be read
// first); one of that size is read whole.
func TestDialWebSocketReadLimit(t *testing.T) {
	url := wsServer(t, func(ctx context.Context, ws *websocket.Conn) {
		ws.Write(ctx, websocket.MessageBinary, make([]byte, MaxWebSocketMessage))
		ws.Write(ctx, websocket.MessageBinary, make([]byte, 4*MaxWebSocketMessage))
		ws.Read(ctx)
	})
	c := dialWS(t, url)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if !errors.Is(err, websocket.ErrMessageTooBig) || n < MaxWebSocketMessage || n > 2*MaxWebSocketMessage+1 {
		t.Errorf("read %d bytes, then %v; want %d to %d and %v", n, err,
			MaxWebSocketMessage, 2*MaxWebSocketMessage+1, websocket.ErrMessageTooBig)
	}
}

// TestDialWebSocketCloseAfterWrite: what was written before Close
// arrives, in messages of at most wsWriteChunk, then a normal close.
func TestDialWebSocketCloseAfterWrite(t *testing.T) {
	type result struct {
		n, biggest int
		status     websocket.StatusCode
	}
	got := make(chan result, 1)
	url := wsServer(t, func(ctx context.Context, ws *websocket.Conn) {
		ws.SetReadLimit(-1)
		var res result
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				res.status = websocket.CloseStatus(err)
				break
			}
			res.n += len(b)
			res.biggest = max(res.biggest, len(b))
		}
		got <- res
	})
	c := dialWS(t, url)
	const size = 1 << 20
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case res := <-got:
		if res.n != size || res.status != websocket.StatusNormalClosure || res.biggest > wsWriteChunk {
			t.Errorf("server read %d bytes in messages of up to %d, then %v; want %d in messages of up to %d, then a normal close",
				res.n, res.biggest, res.status, size, wsWriteChunk)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server saw no close")
	}
}

// TestDialWebSocketBrokenIsNotEOF: a connection that breaks without a
// close frame fails a Read with an error, not io.EOF (a cut stream must
// not look complete).
func TestDialWebSocketBrokenIsNotEOF(t *testing.T) {
	url := wsServer(t, func(ctx context.Context, ws *websocket.Conn) {
		ws.Write(ctx, websocket.MessageBinary, []byte("partial"))
		ws.CloseNow()
	})
	c := dialWS(t, url)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if string(b) != "partial" || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read %q, then %v; want %q and an error", b, err, "partial")
	}
}
