package rtc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/transport/v5/deadline"
	"github.com/pion/webrtc/v4"
)

// Limits of the stream (see the package documentation).
const (
	// MaxMessage is the largest message we send, to a peer that
	// advertises a max-message-size at least that large (Chromium and
	// Safari advertise 256 KiB, Firefox 1 GiB, ferry MaxReceiveMessage).
	// Fewer, larger messages cost the page less per byte.
	MaxMessage = 256 << 10
	// DefaultMessage is the most we send to a peer that advertises no
	// max-message-size (RFC 8841 section 6: 64 KiB).
	DefaultMessage = 64 << 10
	// MaxReceiveMessage is the largest message we accept (natively; a
	// browser enforces its own).
	MaxReceiveMessage = 256 << 10
	// Window is how many bytes the peer may send beyond what our reader
	// has consumed: the bound of the receive queue.
	Window = 8 << 20
	// HighWater is the BufferedAmount at which Write waits.
	HighWater = 4 << 20
	// CloseDrain bounds how long Close waits for written data to leave.
	CloseDrain = 10 * time.Second
)

// Errors of a Conn.
var (
	// ErrProtocol: the peer broke the stream's flow control or framing.
	ErrProtocol = errors.New("rtc: the other side broke the data channel protocol")
	// ErrPeerClosed: the data channel closed without the peer's "eof".
	ErrPeerClosed = errors.New("rtc: the other side closed the data channel")
	// ErrAborted: Abort ended the connection.
	ErrAborted = errors.New("rtc: connection aborted")
	// errClosed: Close ended it.
	errClosed = fmt.Errorf("rtc: %w", net.ErrClosed)
	// errWriteClosed: CloseWrite was called.
	errWriteClosed = errors.New("rtc: write after CloseWrite")
)

// Conn is a data channel as a byte stream. One goroutine may Read while
// another Writes; Close, CloseWrite and Abort may be called from any.
type Conn struct {
	pc    *webrtc.PeerConnection
	dc    *webrtc.DataChannel
	log   *slog.Logger
	chunk int    // largest message we send, set when the channel opens
	path  string // the selected candidate pair's types, where known

	mu       sync.Mutex
	queue    [][]byte // received, not yet read
	queued   int      // bytes in queue
	window   int      // bytes the peer may still send us
	unacked  int      // bytes read since our last grant
	credit   int      // bytes we may still send
	largest  int      // the largest message received (logged at the end)
	messages uint64   // messages received: signs of life for watch
	peerEOF  bool     // the peer sent "eof"
	wroteEOF bool     // we did
	local    error    // our Close or Abort
	err      error    // why the channel is gone otherwise

	opened   chan struct{} // closed when the channel opens
	dead     chan struct{} // closed when local or err is set
	chClosed chan struct{} // closed when the data channel has closed
	readable chan struct{} // a message or a state change for Read
	writable chan struct{} // credit, a low BufferedAmount or a state change for Write
	rd, wd   *deadline.Deadline
	wmu      sync.Mutex // one Write at a time

	openOnce, deadOnce, chCloseOnce, closeOnce sync.Once
}

func newConn(pc *webrtc.PeerConnection, log *slog.Logger) *Conn {
	return &Conn{
		pc: pc, log: log, chunk: DefaultMessage, window: Window,
		opened: make(chan struct{}), dead: make(chan struct{}), chClosed: make(chan struct{}),
		readable: make(chan struct{}, 1), writable: make(chan struct{}, 1),
		rd: deadline.New(), wd: deadline.New(),
	}
}

// attach wires the data channel's events to c.
func (c *Conn) attach(dc *webrtc.DataChannel) {
	c.dc = dc
	dc.SetBufferedAmountLowThreshold(HighWater / 2)
	dc.OnBufferedAmountLow(func() { wake(c.writable) })
	dc.OnOpen(c.onOpen)
	dc.OnMessage(c.onMessage)
	dc.OnClose(func() {
		c.chCloseOnce.Do(func() { close(c.chClosed) })
		c.fail(ErrPeerClosed)
	})
}

func (c *Conn) onOpen() {
	c.openOnce.Do(func() {
		c.chunk = min(MaxMessage, peerMaxMessage(c.pc))
		c.sendControl(grant(Window))
		close(c.opened)
	})
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// fail ends the connection with err unless it already ended.
func (c *Conn) fail(err error) {
	c.mu.Lock()
	if c.local == nil && c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.kill()
}

// kill wakes every waiter for good.
func (c *Conn) kill() {
	c.deadOnce.Do(func() { close(c.dead) })
	wake(c.readable)
	wake(c.writable)
}

// violation ends the connection because the peer broke the protocol.
func (c *Conn) violation(format string, args ...any) {
	err := fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	c.log.Debug("rtc: closing", "err", err)
	c.fail(err)
	go c.pc.Close() // not from within pion's callback
}

// onMessage takes one message from the peer. It never blocks: in the
// browser each message arrives as an event that cannot wait, and the
// credit window bounds what an honest peer sends.
func (c *Conn) onMessage(m webrtc.DataChannelMessage) {
	if m.IsString {
		c.mu.Lock()
		c.messages++
		c.mu.Unlock()
		c.control(m.Data)
		return
	}
	n := len(m.Data)
	c.mu.Lock()
	c.messages++
	if n == 0 {
		c.mu.Unlock()
		return
	}
	switch {
	case c.local != nil || c.err != nil:
		c.mu.Unlock()
		return
	case c.peerEOF:
		c.mu.Unlock()
		c.violation("data after the end of the stream")
		return
	case n > c.window:
		w := c.window
		c.mu.Unlock()
		c.violation("a message of %d bytes with %d left in the window", n, w)
		return
	}
	c.window -= n
	c.largest = max(c.largest, n)
	c.queue = append(c.queue, m.Data)
	c.queued += n
	c.mu.Unlock()
	wake(c.readable)
}

// Read reads stream bytes: what is queued, then io.EOF after the peer's
// "eof", or the error that ended the connection.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		c.mu.Lock()
		switch {
		case c.local != nil:
			err := c.local
			c.mu.Unlock()
			return 0, err
		case c.queued > 0:
			n := 0
			for n < len(p) && len(c.queue) > 0 {
				m := copy(p[n:], c.queue[0])
				n += m
				if m == len(c.queue[0]) {
					c.queue[0] = nil
					c.queue = c.queue[1:]
				} else {
					c.queue[0] = c.queue[0][m:]
				}
			}
			c.queued -= n
			c.unacked += n
			more := 0
			if c.unacked >= Window/4 && c.err == nil && !c.peerEOF {
				more, c.unacked = c.unacked, 0
				c.window += more
			}
			c.mu.Unlock()
			if more > 0 {
				c.sendControl(grant(more))
			}
			return n, nil
		case c.peerEOF:
			c.mu.Unlock()
			return 0, io.EOF
		case c.err != nil:
			err := c.err
			c.mu.Unlock()
			return 0, err
		}
		c.mu.Unlock()
		select {
		case <-c.readable:
		case <-c.dead:
		case <-c.rd.Done():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Write sends p as messages of at most MaxMessage bytes (less when the
// peer takes less), within the peer's credit and while BufferedAmount is below HighWater.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for written < len(p) {
		c.mu.Lock()
		err := c.writeErr()
		credit := c.credit
		c.mu.Unlock()
		if err != nil {
			return written, err
		}
		if credit > 0 && c.dc.BufferedAmount() < HighWater {
			n := min(len(p)-written, credit, c.chunk)
			c.mu.Lock()
			c.credit -= n
			c.mu.Unlock()
			if err := c.dc.Send(p[written : written+n]); err != nil {
				c.fail(fmt.Errorf("rtc: send: %w", err))
				return written, c.Err()
			}
			written += n
			continue
		}
		select {
		case <-c.writable:
		case <-c.dead:
		case <-c.wd.Done():
			return written, os.ErrDeadlineExceeded
		}
	}
	return written, nil
}

// writeErr is why Write cannot go on, or nil; c.mu is held.
func (c *Conn) writeErr() error {
	switch {
	case c.local != nil:
		return c.local
	case c.err != nil:
		return c.err
	case c.wroteEOF:
		return errWriteClosed
	}
	return nil
}

// Err is the error that ended the connection, or nil.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local != nil {
		return c.local
	}
	return c.err
}

// SetReadDeadline makes a blocked or later Read fail with
// os.ErrDeadlineExceeded after t (the zero time: never).
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.Set(t); return nil }

// SetWriteDeadline does the same for Write; a Write it stops returns the
// bytes it sent.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.Set(t); return nil }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.Set(t)
	c.wd.Set(t)
	return nil
}

// Path is the types of the selected candidate pair, "local/remote" (for
// example "host/host" or "relay/host"), where the engine can tell (not in
// the browser); else "".
func (c *Conn) Path() string { return c.path }

// BufferedAmount is how many written bytes the channel still holds.
func (c *Conn) BufferedAmount() uint64 { return c.dc.BufferedAmount() }

// Queued is how many received bytes wait for Read.
func (c *Conn) Queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}
