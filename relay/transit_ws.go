package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Handler returns the transit relay's WebSocket endpoint, as
// magic-wormhole-transit-relay's websocket mode serves it: each request
// is upgraded to a WebSocket whose binary messages, taken together, are
// the client's byte stream (a handshake may come split over messages, or
// with more bytes in the same one). The client sends the same "please
// relay TOKEN for side SIDE\n" as over TCP and gets the same replies,
// "ok\n", "bad handshake\n" or "impatient\n", each as a binary message;
// once paired, with a TCP client or another WebSocket one, the bytes of
// its messages go to the partner, and the partner's bytes come back as
// messages of at most BufferBytes. A text message ends the connection.
//
// WebSocket clients count against the same limits as TCP ones, by the
// HTTP client's address (behind a reverse proxy, every client has the
// proxy's), and have the same timeouts. A client refused by the limits,
// or coming after Close, gets HTTP 503 instead of the upgrade.
//
// A WebSocket has no half-close: when the partner ends its direction,
// the WebSocket gets a normal close (status 1000) after the partner's
// last bytes, and what the client sends after that may be lost; a
// WebSocket client's close is passed on to a TCP partner as a
// half-close.
//
// Requests from any Origin are accepted: a web page on any site may use
// the relay. That gives a page nothing it could not do with a TCP
// client: the relay holds no cookies or other credentials to abuse, a
// client can only join the pair whose secret token it knows, and what it
// relays is end-to-end encrypted between the two peers.
//
// The handler serves whatever path it is mounted at; `ferry relay`
// mounts it at /transit on the mailbox listener.
func (s *TransitServer) Handler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

func (s *TransitServer) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	addr := clientKeyOf(r.RemoteAddr)
	tc, reason := s.admit(addr, true)
	if tc == nil {
		s.log.Debug("transit: websocket refused", "remote", addr.addr, "reason", reason)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "transit relay: "+reason, http.StatusServiceUnavailable)
		return
	}
	hw := &hijackWatch{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // any Origin: see Handler
		// The relayed bytes are encrypted: nothing to compress, and no
		// compressor's memory per connection.
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil || hw.conn == nil {
		s.log.Debug("transit: websocket handshake failed", "remote", addr.addr, "err", err)
		if ws != nil {
			ws.CloseNow()
		}
		s.mu.Lock()
		s.leave(tc)
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()
	tc.c = newWSConn(ctx, ws, hw.conn)
	tc.serve(ctx)
}

// hijackWatch keeps the connection that websocket.Accept hijacks, so
// that a WebSocket can be closed at once, without a close handshake that
// may wait for the client.
type hijackWatch struct {
	http.ResponseWriter
	conn net.Conn
}

func (h *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the HTTP connection cannot be taken over for a websocket")
	}
	c, brw, err := hj.Hijack()
	h.conn = c
	return c, brw, err
}

// wsConn is a WebSocket client of the transit relay as a net.Conn: the
// bytes of its binary messages are read, each Write sends one binary
// message.
//
// Its deadlines come from websocket.NetConn: when one passes during a
// Read or Write, the connection is closed (the relay closes a connection
// whose deadline passed anyway), and that Read or Write fails with
// os.ErrDeadlineExceeded as a TCP connection's would.
type wsConn struct {
	net.Conn // websocket.NetConn over ws
	ws       *websocket.Conn
	raw      net.Conn // the hijacked connection under ws

	readDeadline, writeDeadline atomic.Int64 // Unix nanoseconds; 0: none
}

func newWSConn(ctx context.Context, ws *websocket.Conn, raw net.Conn) *wsConn {
	// NetConn reads a message as it comes, into the caller's buffer, so
	// messages cost no memory however long: it lifts the read limit.
	return &wsConn{Conn: websocket.NetConn(ctx, ws, websocket.MessageBinary), ws: ws, raw: raw}
}

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if errors.Is(err, io.EOF) {
		// The close handshake is over (the client's close came): nothing
		// more is read or written.
		c.raw.Close()
		return n, io.EOF
	}
	return n, deadlineErr(err, &c.readDeadline)
}

func (c *wsConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, deadlineErr(err, &c.writeDeadline)
}

// deadlineErr marks err as a timeout if the deadline d has passed.
func deadlineErr(err error, d *atomic.Int64) error {
	if err == nil {
		return nil
	}
	if t := d.Load(); t != 0 && time.Now().UnixNano() >= t {
		return fmt.Errorf("%w: %v", os.ErrDeadlineExceeded, err)
	}
	return err
}

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(unixNanoOrZero(t))
	return c.Conn.SetReadDeadline(t)
}

func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(unixNanoOrZero(t))
	return c.Conn.SetWriteDeadline(t)
}

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// CloseWrite ends what the relay sends: a normal close after the bytes
// written so far. A WebSocket has no half-close, so the client is
// expected to answer with its own close; until it does (for at most a
// few seconds), what it sends is still read.
func (c *wsConn) CloseWrite() error {
	return c.ws.Close(websocket.StatusNormalClosure, "")
}

// Close closes the connection at once, with no close handshake to wait
// for: the relay closes connections while it holds its lock, and when it
// gives up on a client.
func (c *wsConn) Close() error {
	err := c.raw.Close()
	c.ws.CloseNow()
	return err
}
