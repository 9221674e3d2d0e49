package transit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// Bounds on the two waits of every data path, the same for ferry's own
// paths (direct TCP, ICE/QUIC, TURN, the transit relay) and for classic
// peers.
const (
	// DefaultConnectTimeout bounds the race for a connection: when no
	// path has connected by then, both sides give up and say which paths
	// they tried.
	DefaultConnectTimeout = 30 * time.Second
	// DefaultIdleTimeout bounds how long a connection may carry nothing
	// while the other side owes bytes: every read and every write that
	// moves data starts the clock again.
	DefaultIdleTimeout = 30 * time.Second
	// ConnectingNotice is how long a race runs before the user hears
	// which paths are being tried.
	ConnectingNotice = 3 * time.Second
)

// ErrStalled is the error of a connection on which nothing moved for the
// idle timeout: the other side stopped, or the path between went dead.
var ErrStalled = errors.New("the other side stopped responding")

// NoPathError is the failure of a connection race in which no path worked
// within the connect timeout.
type NoPathError struct {
	Tried   []string      // the paths tried: "direct tcp", "ice", "transit relay", …
	Timeout time.Duration // how long they were tried; 0 if every attempt failed before
	// PeerGaveUp says the other side reported that it found no path
	// first (its clock ran out a moment before ours).
	PeerGaveUp bool
	Err        error // what the attempts said, if anything
}

// NoPathPrefix starts every NoPathError's text; a peer's error message
// that starts with it means that the peer found no path.
const NoPathPrefix = "no connection to the other side"

func (e *NoPathError) Error() string {
	tried := "nothing"
	if len(e.Tried) > 0 {
		tried = strings.Join(e.Tried, ", ")
	}
	switch {
	case e.Timeout > 0:
		return fmt.Sprintf("%s within %s (tried %s)", NoPathPrefix, e.Timeout, tried)
	case e.PeerGaveUp:
		return fmt.Sprintf("%s (tried %s, and so did the other side)", NoPathPrefix, tried)
	}
	return fmt.Sprintf("%s (tried %s)", NoPathPrefix, tried)
}

func (e *NoPathError) Unwrap() error { return e.Err }

// deadliner is what a connection needs for an idle timeout: net.Conn and
// the QUIC stream both have it.
type deadliner interface {
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// IdleConn is a connection with an idle timeout: each Read and Write must
// make progress within Timeout, or it fails with ErrStalled.
type IdleConn struct {
	io.ReadWriteCloser
	d       deadliner
	timeout time.Duration
	stalled atomic.Pointer[error] // set once the timeout ended a read or write
}

// WithIdle wraps c with an idle timeout d (DefaultIdleTimeout when 0).
// c must have read and write deadlines; a connection without them is
// returned as it is.
func WithIdle(c io.ReadWriteCloser, d time.Duration) io.ReadWriteCloser {
	if d <= 0 {
		d = DefaultIdleTimeout
	}
	dl, ok := c.(deadliner)
	if !ok {
		return c
	}
	return &IdleConn{ReadWriteCloser: c, d: dl, timeout: d}
}

// Read reads, failing with ErrStalled when nothing arrives in time.
func (c *IdleConn) Read(p []byte) (int, error) {
	_ = c.d.SetReadDeadline(time.Now().Add(c.timeout))
	n, err := c.ReadWriteCloser.Read(p)
	return n, c.check(err)
}

// Write writes, failing with ErrStalled when the peer takes nothing in
// time. A large write on a slow path may outlast the timeout; it is no
// stall as long as its bytes keep moving. So the write runs under short
// deadlines (an eighth of the timeout: a deadline stops a write at the
// bytes it got out, and it goes on from there), and fails once none of
// them moved anything for the whole timeout, at most an eighth late.
func (c *IdleConn) Write(p []byte) (int, error) {
	step := max(c.timeout/8, 10*time.Millisecond)
	written, moved := 0, time.Now()
	for {
		_ = c.d.SetWriteDeadline(time.Now().Add(step))
		n, err := c.ReadWriteCloser.Write(p[written:])
		written += n
		if err == nil || written == len(p) {
			return written, nil
		}
		if !isTimeout(err) {
			return written, err
		}
		if now := time.Now(); n > 0 {
			moved = now
		} else if now.Sub(moved) >= c.timeout {
			return written, c.check(err)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *IdleConn) check(err error) error {
	if err != nil && isTimeout(err) {
		err = fmt.Errorf("%w: nothing moved for %s", ErrStalled, c.timeout)
		c.stalled.CompareAndSwap(nil, &err)
	}
	return err
}

// Stalled returns the ErrStalled error once the idle timeout ended a read
// or a write, and nil before: layers above the connection may have
// replaced that error by their own.
func (c *IdleConn) Stalled() error {
	if p := c.stalled.Load(); p != nil {
		return *p
	}
	return nil
}

// Unwrap returns the connection under the idle timeout.
func (c *IdleConn) Unwrap() io.ReadWriteCloser { return c.ReadWriteCloser }
