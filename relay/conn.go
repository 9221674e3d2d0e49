package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"
)

var (
	errSlowClient   = errors.New("send queue full: client reads too slowly")
	errDisconnected = errors.New("connection ended")
)

// conn is one client's websocket connection. The goroutine running serve
// reads and handles the client's commands one at a time; a second
// goroutine writes queued frames, so that a client that does not read
// cannot hold up anyone else. When its queue overflows the client is
// disconnected.
type conn struct {
	srv  *Server
	ws   *websocket.Conn
	addr clientKey // of the remote address, for per-client limits
	log  *slog.Logger
	page string // the page URL its welcome announces, if any
	// transit and stun are the node's transit relay and STUN server its
	// welcome announces, if any (welcome.go).
	transit, stun string
	you           *yourAddress // its address as its welcome reports it
	// resource is the hashcash resource its welcome names (when
	// Config.HashcashBits asks for a proof of work).
	resource string
	queue    sendQueue
	cancel   context.CancelCauseFunc

	// Protocol state, touched only by serve and the command it
	// handles, one at a time. As in
	// the reference server, each connection binds once and may allocate,
	// claim, release, open and close at most once.
	app, side   string
	didAllocate bool
	didClaim    bool
	nameplate   string // what the claim named, once didClaim
	didRelease  bool
	hasMailbox  bool   // an open was attempted
	mailboxID   string // what it named, once hasMailbox
	didOpen     bool
	listening   bool // opened and not yet closed
	didClose    bool
	didSubmit   bool // submit-permissions came
	permitted   bool // with a valid stamp
}

func newConn(srv *Server, ws *websocket.Conn, addr clientKey) *conn {
	return &conn{
		srv:      srv,
		ws:       ws,
		addr:     addr,
		log:      srv.log.With("remote", addr.addr),
		resource: newResource(),
	}
}

// serve runs the connection until the client goes away, the connection
// fails, or ctx is done (then the client is told the server is going away).
// Only this goroutine lives as long as the connection: a writer runs while
// frames are queued, and a timer pings the client. An idle connection
// (most of a big relay's: clients waiting for their peer) then costs one
// goroutine's stack rather than three.
func (c *conn) serve(ctx context.Context) {
	shutdown := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	c.cancel = cancel
	c.queue.init(c.srv.bufs, c.srv.cfg.MaxSendQueueBytes, cancel)
	c.queue.start = func() { go c.writeLoop(ctx) }
	defer c.queue.closeAndWait()
	defer cancel(errDisconnected)
	context.AfterFunc(ctx, func() {
		if shutdown.Err() != nil {
			c.ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
		c.ws.CloseNow()
	})
	if c.srv.cfg.PingInterval > 0 {
		defer c.keepalive()()
	}
	defer func() {
		if c.listening {
			c.srv.state.unlisten(c.app, c.mailboxID, c)
		}
	}()

	c.log.Debug("client connected")
	c.sendMsg(welcomeMsg{
		header: newHeader("welcome", c.srv.cfg.now()),
		Welcome: welcomeInfo{MOTD: c.srv.cfg.MOTD, Page: c.page, Transit: c.transit, STUN: c.stun,
			YourAddress: c.you, Permission: c.permissionRequired()},
	})
	for {
		frame, err := c.readFrame()
		if err == nil && !c.queue.chargeRead(3*int64(len(frame))) {
			// Handling it takes about three times as much again: its
			// decoded fields and the replies that echo it.
			err = errBuffersFull
		}
		if err != nil {
			c.log.Debug("client disconnected", "err", err, "cause", context.Cause(ctx))
			if why := disconnectReason(context.Cause(ctx)); why != "" {
				c.srv.metrics.refused.add(why)
			} else if errors.Is(err, errBuffersFull) {
				c.srv.metrics.refused.add(droppedBuffers)
			}
			cancel(fmt.Errorf("read: %w", err))
			return
		}
		// Handled on a goroutine of its own: a command may go deep (on
		// JetStream, through nats.go's requests), and a stack that grew
		// for it would stay with this goroutine, which lives as long as
		// the connection, mostly idle: 16 KiB rather than 8 KiB for each
		// of 10,000 waiting clients (scripts/relay-load).
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.handle(frame)
		}()
		<-done
		c.queue.releaseRead()
	}
}

// readFrame reads one whole message, its bytes counted against the
// relay's buffer budget as they arrive (until releaseRead), so that many
// clients sending big frames slowly cannot hold more than the budget.
func (c *conn) readFrame() ([]byte, error) {
	// The read is not bound to ctx: cancelling ctx closes the websocket
	// (gracefully on shutdown), which ends the read.
	_, r, err := c.ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	// Grow by doubling, but never past the frame limit plus the byte that
	// shows a frame is too big (the websocket refuses it then).
	limit := c.srv.cfg.MaxFrameBytes + 1
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			grow := max(min(max(int64(cap(buf)), 512), limit-int64(cap(buf))), 1)
			if !c.queue.chargeRead(grow) {
				c.ws.CloseNow()
				return nil, errBuffersFull
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// writeLoop writes queued frames until the queue is empty (push starts it
// again), ctx is done or a write fails.
func (c *conn) writeLoop(ctx context.Context) {
	for {
		frame, ok := c.queue.next(ctx)
		if !ok {
			return
		}
		// Not bound to ctx either: a cancelled write would cut off the
		// close handshake on shutdown.
		wctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
		err := c.ws.Write(wctx, websocket.MessageText, frame)
		cancel()
		c.queue.wrote()
		if err != nil {
			c.cancel(fmt.Errorf("write: %w", err))
		}
	}
}

// keepalive pings the client every cfg.PingInterval, from a timer, and
// drops it when a pong does not come back within the interval, so that
// dead connections do not keep their mailboxes from being pruned. It
// returns what stops the pings.
func (c *conn) keepalive() (stop func()) {
	interval := c.srv.cfg.PingInterval
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	ping := func() {
		// Not bound to ctx: a ping cancelled on shutdown would close
		// the websocket before the close handshake.
		pctx, cancel := context.WithTimeout(context.Background(), interval)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			c.cancel(fmt.Errorf("keepalive: %w", err))
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			t.Reset(interval)
		}
	}
	mu.Lock()
	t = time.AfterFunc(interval, ping)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// send queues a frame without blocking; it disconnects a client whose
// queue is full. It implements listener.
func (c *conn) send(frame []byte) {
	if !c.queue.push(frame) {
		c.cancel(errSlowClient)
	}
}

// sendMsg encodes and queues an outbound message.
func (c *conn) sendMsg(v any) {
	frame, err := encode(v)
	if err != nil {
		c.log.Error("encode reply", "err", err)
		return
	}
	c.send(frame)
}
