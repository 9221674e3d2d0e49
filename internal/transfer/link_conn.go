package transfer

import (
	"io"
	"sync/atomic"
	"time"

	"github.com/ferrydrop/ferry/internal/transit"
)

// Conn is the connection the race produced, and which path won. Once the
// race is decided its reads and writes have the link's idle timeout.
type Conn struct {
	io.ReadWriteCloser
	Path string // "direct tcp", "ice host", "ice relay", …
	// Stripes is how many connections the stream is striped over (0 or
	// 1: one).
	Stripes int
	raw     io.ReadWriteCloser
	// failure is the first failed read or write on the path (Broken).
	failure atomic.Pointer[pathFailure]
}

type pathFailure struct{ err error }

func newConn(c io.ReadWriteCloser, path string) *Conn {
	return &Conn{ReadWriteCloser: c, Path: path, raw: c}
}

// Abort ends the connection at once, unblocking a Read or Write in
// another goroutine (closing a QUIC stream while a Write is blocked on it
// is not allowed, and an orderly Close waits for the peer).
func (c *Conn) Abort() {
	if a, ok := c.raw.(interface{ Abort() }); ok {
		a.Abort()
		return
	}
	_ = c.raw.Close()
}

// CloseAfterPeer ends a connection on which we wrote the last word: it
// closes our write side where the path can, waits at most wait for the
// peer to close (so that what we wrote is not lost to a reset), and
// closes.
func (c *Conn) CloseAfterPeer(wait time.Duration) error {
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if d, ok := c.raw.(interface{ SetReadDeadline(time.Time) error }); ok {
		_ = d.SetReadDeadline(time.Now().Add(wait))
		var b [512]byte
		for {
			if _, err := c.raw.Read(b[:]); err != nil {
				break
			}
		}
	}
	return c.raw.Close()
}

// End closes the connection after a transfer that ended with err: in
// order after a success, at once after a failure (the peer may be gone,
// and an orderly close would wait for it).
func (c *Conn) End(err error) {
	if err != nil {
		c.Abort()
		return
	}
	_ = c.Close()
}

// Why returns the cause of err, a failed read or write on the connection
// or in a layer above it (the OpenPGP reader keeps only its own
// message): ErrStalled when the idle timeout ended it, else err.
func (c *Conn) Why(err error) error {
	if ic, ok := c.ReadWriteCloser.(*transit.IdleConn); ok && err != nil {
		if serr := ic.Stalled(); serr != nil {
			return serr
		}
	}
	return err
}

func (c *Conn) limitIdle(d time.Duration) {
	c.ReadWriteCloser = transit.WithIdle(c.raw, d)
}
