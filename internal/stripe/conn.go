// Package stripe carries one byte stream, in both directions, over several
// paths at once (connections that already reach the peer: direct TCP,
// QUIC over ICE, parallel connections on one path), and reassembles it in
// order on the other side: the pieces of a peer-to-peer swarm, from one
// peer.
//
// A Write is cut into pieces of at most Config.PieceSize bytes, numbered
// in order. Each path has a writer that takes the lowest-numbered piece
// waiting, so a fast path takes more pieces than a slow one. The reader
// holds the pieces that arrived ahead of the one it needs and acks, now
// and then and whenever it would wait, the number of the next piece it
// needs. The writer keeps every piece until it is acked, at most
// Config.Window bytes (and maxPieces pieces) of them: that bounds the
// memory of both sides whatever the stream's length, and is the stream's
// flow control. When a path fails, or brings nothing (acks are sent as
// keepalives) for Config.DeadAfter while others do, it is closed and the pieces it carried
// that were not acked go out again on the others: a dying path costs only
// its pieces in flight. When every path is gone, Read and Write fail.
//
// The bytes of the stream are what the caller writes, unchanged; the
// pieces' frames are not authenticated here (ferry's OpenPGP stream
// authenticates what it carries).
package stripe

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Config's zero fields.
const (
	DefaultPieceSize = 128 << 10
	DefaultWindow    = 8 << 20
	DefaultPingEvery = time.Second
	DefaultDeadAfter = 5 * time.Second
	// CloseDrain bounds how long Close waits for the peer to ack what was
	// written.
	CloseDrain = 10 * time.Second
)

// maxPieces bounds the pieces a writer has in flight, and so what a
// reader holds, however small the writes: pieces cost a map entry each.
const maxPieces = 1024

// ErrPathsDown is the error of a connection whose paths all failed.
var ErrPathsDown = errors.New("stripe: every path failed")

// Config configures a Conn; the zero value uses the defaults. Both sides
// must use the same Window (a reader refuses a writer that has more in
// flight).
type Config struct {
	PieceSize int   // at most MaxPiece
	Window    int64 // bytes in flight each way
	PingEvery time.Duration
	DeadAfter time.Duration
	Logger    *slog.Logger
}

func (cfg Config) withDefaults() Config {
	if cfg.PieceSize <= 0 {
		cfg.PieceSize = DefaultPieceSize
	}
	cfg.PieceSize = min(cfg.PieceSize, MaxPiece)
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.PingEvery <= 0 {
		cfg.PingEvery = DefaultPingEvery
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// Path is one connection to the peer.
type Path struct {
	io.ReadWriteCloser
	Name string // for the log and Stats
}

// PathStats says what one path did.
type PathStats struct {
	Name   string
	Sent   int64 // stream bytes this side sent on it, retransmissions included
	Failed error // why it was closed, nil while it works
}

// piece is one numbered piece of our stream.
type piece struct {
	seq  uint64
	data []byte
	path int // the path carrying it, -1 while it waits
}

// Conn is the striped stream. It is safe for one reader and one writer at
// a time, and Close or Abort from any goroutine.
type Conn struct {
	cfg  Config
	log  *slog.Logger
	done chan struct{} // closed by Close or Abort
	wg   sync.WaitGroup
	bufs sync.Pool // *[]byte of cap PieceSize: pieces, ours and the peer's, are reused

	mu    sync.Mutex
	cond  *sync.Cond
	paths []*path
	live  int
	err   error // why reads and writes fail, once they do

	// Our stream.
	nextSeq  uint64   // number of the next piece
	acked    uint64   // the peer read every piece before this
	unacked  []*piece // by seq: sent or waiting, not yet acked
	queue    []*piece // by seq: waiting for a path
	inflight int64    // bytes in unacked
	wclosed  bool     // CloseWrite: no more pieces
	wdl      deadline

	// The peer's stream.
	next      uint64            // the next piece Read needs
	held      map[uint64][]byte // pieces that arrived, not yet read
	reading   map[uint64]int    // pieces paths are reading now (counted in heldBytes), and by how many
	heldBytes int64
	cur       []byte // the rest of piece next-1
	curBuf    []byte // all of it, to reuse once read
	fin       bool   // the peer is done after finTotal pieces
	finTotal  uint64
	maxSeen   uint64 // one more than the highest piece seen
	unackRead int64  // bytes read since our last ack
	ackDue    bool
	rdl       deadline
}

// path is one path's state; its fields are guarded by Conn.mu except
// where noted.
type path struct {
	idx       int
	name      string
	rw        io.ReadWriteCloser
	failed    error
	finSent   bool
	lastWrite time.Time
	lastRead  atomic.Int64 // unix nanoseconds; also read by the watchdog
	sent      atomic.Int64
}

// New runs the stream over paths (at least one) until Close or Abort; the
// peer must call New with its ends of the same paths, in any order.
func New(paths []Path, cfg Config) (*Conn, error) {
	if len(paths) == 0 {
		return nil, errors.New("stripe: no paths")
	}
	cfg = cfg.withDefaults()
	c := &Conn{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), held: map[uint64][]byte{}, reading: map[uint64]int{}}
	c.cond = sync.NewCond(&c.mu)
	c.rdl.c, c.wdl.c = c, c
	now := time.Now()
	for i, p := range paths {
		pp := &path{idx: i, name: p.Name, rw: p.ReadWriteCloser, lastWrite: now}
		pp.lastRead.Store(now.UnixNano())
		c.paths = append(c.paths, pp)
	}
	c.live = len(paths)
	for _, p := range c.paths {
		c.wg.Add(2)
		go c.readLoop(p)
		go c.writeLoop(p)
	}
	c.wg.Add(1)
	go c.watchdog()
	return c, nil
}

// Write sends b, waiting while Window bytes are in flight.
func (c *Conn) Write(b []byte) (int, error) {
	n := 0
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		for c.err == nil && !c.wclosed && (c.inflight >= c.cfg.Window || len(c.unacked) >= maxPieces) && !c.wdl.passed() {
			c.cond.Wait()
		}
		switch {
		case c.err != nil:
			return n, c.err
		case c.wclosed:
			return n, errors.New("stripe: write after CloseWrite")
		case c.wdl.passed():
			return n, os.ErrDeadlineExceeded
		}
		k := min(len(b), c.cfg.PieceSize)
		pc := &piece{seq: c.nextSeq, data: append(c.buffer(), b[:k]...), path: -1}
		c.nextSeq++
		c.unacked = append(c.unacked, pc)
		c.queue = append(c.queue, pc)
		c.inflight += int64(k)
		c.cond.Broadcast()
		b, n = b[k:], n+k
	}
	return n, nil
}

// Read reads the peer's stream in order.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.cur) > 0 {
			n := copy(b, c.cur)
			if c.cur = c.cur[n:]; len(c.cur) == 0 {
				c.reuse(c.curBuf)
				c.curBuf = nil
			}
			c.unackRead += int64(n)
			if c.unackRead >= c.cfg.Window/8 {
				c.wantAck()
			}
			return n, nil
		}
		if data, ok := c.held[c.next]; ok {
			delete(c.held, c.next)
			c.heldBytes -= int64(len(data))
			c.next++
			c.cur, c.curBuf = data, data
			continue
		}
		if c.fin && c.next == c.finTotal {
			if c.unackRead > 0 {
				c.wantAck()
			}
			return 0, io.EOF
		}
		if c.err != nil {
			return 0, c.err
		}
		if c.rdl.passed() {
			return 0, os.ErrDeadlineExceeded
		}
		if c.unackRead > 0 {
			c.wantAck() // the writer may be waiting for it
		}
		c.cond.Wait()
	}
}

// buffer returns an empty buffer of capacity PieceSize.
func (c *Conn) buffer() []byte {
	if b, ok := c.bufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, c.cfg.PieceSize)
}

// reuse gives back a piece's buffer that nothing refers to any more.
func (c *Conn) reuse(b []byte) {
	if cap(b) == c.cfg.PieceSize {
		b = b[:0]
		c.bufs.Put(&b)
	}
}

// wantAck asks a path writer to ack what was read. c.mu is held.
func (c *Conn) wantAck() {
	c.ackDue = true
	c.cond.Broadcast()
}

// CloseWrite ends our stream: the peer reads io.EOF after the last piece.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wclosed = true
	c.cond.Broadcast()
	return nil
}

// Close ends our stream, waits (at most CloseDrain) until the peer has
// read all of it, and closes every path.
func (c *Conn) Close() error {
	c.CloseWrite()
	c.mu.Lock()
	wait := time.AfterFunc(CloseDrain, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fail(errors.New("stripe: the peer did not read the end of the stream"))
	})
	for c.err == nil && !(len(c.unacked) == 0 && c.finWritten()) {
		c.cond.Wait()
	}
	wait.Stop()
	c.mu.Unlock()
	c.Abort()
	return nil
}

// finWritten says whether a path wrote our fin. c.mu is held.
func (c *Conn) finWritten() bool {
	for _, p := range c.paths {
		if p.finSent {
			return true
		}
	}
	return false
}

// Abort closes every path at once.
func (c *Conn) Abort() {
	c.mu.Lock()
	c.fail(net.ErrClosed)
	paths := slices.Clone(c.paths)
	select {
	case <-c.done:
	default:
		close(c.done)
	}
	c.mu.Unlock()
	for _, p := range paths {
		abort(p.rw)
	}
	c.wg.Wait()
}

// abort ends a path at once.
func abort(rw io.ReadWriteCloser) {
	if a, ok := rw.(interface{ Abort() }); ok {
		a.Abort()
		return
	}
	_ = rw.Close()
}

// fail sets the error reads and writes return from now on. c.mu is held.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
}

// Stats reports each path's use.
func (c *Conn) Stats() []PathStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PathStats, len(c.paths))
	for i, p := range c.paths {
		out[i] = PathStats{Name: p.name, Sent: p.sent.Load(), Failed: p.failed}
	}
	return out
}

// SetReadDeadline bounds Read, as net.Conn's does.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rdl.set(t); return nil }

// SetWriteDeadline bounds Write, as net.Conn's does.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

// deadline is a read or write deadline: a time, and a timer that wakes the
// waiters when it passes. Its fields are guarded by Conn.mu.
type deadline struct {
	c     *Conn
	at    time.Time
	timer *time.Timer
}

func (d *deadline) set(t time.Time) {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	d.at = t
	switch {
	case t.IsZero():
		if d.timer != nil {
			d.timer.Stop()
		}
	case d.timer == nil:
		d.timer = time.AfterFunc(time.Until(t), func() {
			d.c.mu.Lock()
			defer d.c.mu.Unlock()
			d.c.cond.Broadcast()
		})
	default:
		d.timer.Reset(time.Until(t))
	}
	d.c.cond.Broadcast()
}

// passed says whether the deadline passed. Conn.mu is held.
func (d *deadline) passed() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// kill closes path p after err and sends its unacked pieces again on the
// others. c.mu is held.
func (c *Conn) kill(p *path, err error) {
	if p.failed != nil {
		return
	}
	p.failed = err
	c.live--
	go abort(p.rw)
	requeued := 0
	for _, pc := range c.unacked {
		if pc.path == p.idx {
			pc.path = -1
			c.queue = append(c.queue, pc)
			requeued++
		}
	}
	if requeued > 0 {
		slices.SortFunc(c.queue, func(a, b *piece) int { return cmp.Compare(a.seq, b.seq) })
	}
	select {
	case <-c.done:
	default:
		c.log.Debug("stripe: path failed", "path", p.name, "err", err, "resent", requeued, "left", c.live)
	}
	if c.live == 0 {
		c.fail(fmt.Errorf("%w (the last: %s: %w)", ErrPathsDown, p.name, err))
	}
	c.cond.Broadcast()
}

// watchdog kills paths that brought nothing for DeadAfter while another
// path brought something meanwhile (the peer is alive, that path is not),
// and wakes the writers so that quiet paths send a keepalive. When every
// path fell silent, the peer stopped or the network is gone altogether:
// there is no path to move the pieces to, and the caller's idle timeout
// (deadlines) decides, as on one connection.
func (c *Conn) watchdog() {
	defer c.wg.Done()
	t := time.NewTicker(min(c.cfg.PingEvery, c.cfg.DeadAfter) / 2)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case now := <-t.C:
			c.mu.Lock()
			var newest time.Time
			for _, p := range c.paths {
				if last := time.Unix(0, p.lastRead.Load()); p.failed == nil && last.After(newest) {
					newest = last
				}
			}
			if now.Sub(newest) < c.cfg.DeadAfter {
				for _, p := range c.paths {
					if p.failed == nil && now.Sub(time.Unix(0, p.lastRead.Load())) >= c.cfg.DeadAfter {
						c.kill(p, fmt.Errorf("nothing arrived for %v while the other paths worked", c.cfg.DeadAfter))
					}
				}
			}
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	}
}
