package transit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of a WebSocket to a transit relay.
const (
	// MaxWebSocketMessage caps one message the relay may send us; a
	// bigger one ends the connection. ferry's relay sends messages of at
	// most 16 KiB, the reference one what it read from the partner.
	MaxWebSocketMessage = 1 << 20
	// MaxWebSocketBuffered is how much a browser's WebSocket may hold
	// that it has not sent yet: writes wait while it holds more.
	MaxWebSocketBuffered = 1 << 20
	// MaxWebSocketQueued caps what a browser's WebSocket received that
	// was not read yet; more ends the connection. (Natively TCP holds
	// the relay back.)
	MaxWebSocketQueued = 32 << 20
	// wsWriteChunk caps the messages we send.
	wsWriteChunk = 64 << 10
	// wsCloseWait bounds how long Close waits, in the background, to
	// send what was written before it.
	wsCloseWait = 10 * time.Second
)

// DialWebSocket is a DialFunc for transit relays that take WebSocket
// clients (ferry's relay at ws://HOST/transit, magic-wormhole-transit-
// relay's websocket mode): url is the relay's ws:// or wss:// URL, and
// the connection carries the byte stream in binary messages. Use it as
// Config.Dial with WebSocket URLs as Config.Relays; in a browser
// (GOOS=js) it uses the browser's WebSocket, holding writes back while
// more than MaxWebSocketBuffered bytes wait in it, and failing when more
// than MaxWebSocketQueued bytes arrived that were not read yet (a browser
// cannot pause a WebSocket's receive).
//
// ctx bounds the dial only. The connection's deadlines behave as a TCP
// connection's: one that passes fails the Read or Write with
// os.ErrDeadlineExceeded and the connection stays usable. A WebSocket has
// no half-close; Close sends a normal close after what was written.
func DialWebSocket(ctx context.Context, url string) (net.Conn, error) {
	t, err := openWS(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("websocket to transit relay %s: %w", url, err)
	}
	return newWSConn(t, url), nil
}

// wsTransport is one WebSocket as a byte stream (coder/websocket's, or
// the browser's own).
type wsTransport interface {
	io.Reader // the relay's messages, as one stream; io.EOF after a normal close
	io.Writer // sent as binary messages of at most wsWriteChunk bytes
	// closeNormal sends a normal close after what was written; abort
	// ends the WebSocket at once.
	closeNormal()
	abort()
}

// wsConn is a WebSocket as a net.Conn. The transports' own reads and
// writes cannot have deadlines that leave them usable (coder/websocket's
// NetConn closes the connection when a deadline passes during a Read,
// which Race's short waits cannot have); so the caller's end is one side
// of a net.Pipe, with its deadlines, and two goroutines move the bytes
// between the other side and the WebSocket. The pipe holds no buffer: the
// relay's messages are read only as fast as the caller reads.
type wsConn struct {
	net.Conn // our end of the pipe
	ws       wsTransport
	addr     wsAddr
	err      atomic.Pointer[error]
	wrote    chan struct{} // closed when the writer is done
	once     sync.Once
}

func newWSConn(ws wsTransport, url string) *wsConn {
	mine, theirs := net.Pipe()
	c := &wsConn{Conn: mine, ws: ws, addr: wsAddr(url), wrote: make(chan struct{})}
	go func() { // the relay → the caller
		_, err := io.CopyBuffer(theirs, ws, make([]byte, 32<<10))
		if err == nil {
			err = io.EOF // a normal close
		}
		c.fail(err)
		theirs.Close()
	}()
	go func() { // the caller → the relay
		defer close(c.wrote)
		buf := make([]byte, wsWriteChunk)
		for {
			n, err := theirs.Read(buf)
			if n > 0 {
				if _, werr := ws.Write(buf[:n]); werr != nil {
					c.fail(werr)
					theirs.Close()
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return c
}

// fail records why the WebSocket ended, if it is the first word on it.
func (c *wsConn) fail(err error) { c.err.CompareAndSwap(nil, &err) }

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		// io.EOF itself marks a normal close; an error that wraps it
		// is a cut connection.
		if e := c.err.Load(); e != nil && *e != io.EOF {
			err = fmt.Errorf("websocket to transit relay: %w", *e)
		}
	}
	return n, err
}

func (c *wsConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		if e := c.err.Load(); e != nil {
			if *e == io.EOF {
				return n, errors.New("websocket to transit relay: closed by the relay")
			}
			return n, fmt.Errorf("websocket to transit relay: %w", *e)
		}
	}
	return n, err
}

// Close ends the connection: Reads and Writes fail at once, and in the
// background what was written goes out, followed by a normal close (for
// at most wsCloseWait, if the relay does not take it).
func (c *wsConn) Close() error {
	c.once.Do(func() {
		c.Conn.Close()
		go func() {
			cut := time.AfterFunc(wsCloseWait, c.ws.abort)
			<-c.wrote
			c.ws.closeNormal()
			cut.Stop()
		}()
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return wsAddr("") }
func (c *wsConn) RemoteAddr() net.Addr { return c.addr }

// wsAddr is a WebSocket's address: the URL dialed.
type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }
