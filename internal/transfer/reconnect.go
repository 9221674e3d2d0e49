package transfer

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/ferrydrop/ferry/internal/wormhole"
)

// Reconnect within a run: when the data path between two ferry peers
// breaks mid-transfer, the sender asks for a new one through the mailbox
// (Ferry.Retry with the next attempt number and its transports), the
// receiver answers with the same number, what it holds by then and its
// transports, both race for a new path and the sender goes on from where
// the receiver is (the resume machinery). Every attempt has keys of its
// own (AttemptKey), so no key and nonce ever cover different bytes.

// Keyer derives keys from the PAKE key (a *wormhole.Wormhole).
type Keyer interface {
	Key(purpose string, length int) []byte
}

var _ Keyer = (*wormhole.Wormhole)(nil)

// AttemptKey is the key for purpose on the data path of attempt n,
// derived from the PAKE key of w and n: attempt 0 keeps the key a
// transfer without reconnects has always used.
func AttemptKey(w Keyer, purpose string, n int) []byte {
	if n == 0 {
		return w.Key(purpose, 32)
	}
	return w.Key(purpose+"/reconnect/"+strconv.Itoa(n), 32)
}

// StreamBase is the key the stream and the receiver's confirmation of
// attempt n are derived from (crypto.StreamKey, WriteDone).
func StreamBase(w Keyer, n int) []byte { return AttemptKey(w, "ferry/stream/v1", n) }

// ReconnectError is a transfer that stopped because its data path broke
// and no new one was found within the reconnect timeout.
type ReconnectError struct {
	Timeout time.Duration
	Err     error // why the path broke (or the last attempt failed)
}

func (e *ReconnectError) Error() string {
	return fmt.Sprintf("the connection broke and no new path to the other side was found within %s (--reconnect-timeout): %v", e.Timeout, e.Err)
}

func (e *ReconnectError) Unwrap() error { return e.Err }

// NoResumeError is a transfer whose data path broke while reconnecting
// was on, but which cannot go on over a new path: it cannot resume from
// what arrived (Reason says why, e.g. a stream from stdin cannot be read
// again). The peer is told Reason (peerReason), so it names no local
// file.
type NoResumeError struct {
	Reason string
	Err    error // why the path broke
}

func (e *NoResumeError) Error() string {
	return fmt.Sprintf("%v; the transfer cannot go on over a new path: %s", e.Err, e.Reason)
}

func (e *NoResumeError) Unwrap() error { return e.Err }

// Reasons a transfer cannot resume (NoResumeError.Reason).
const (
	// NoResumeStdin is a stream from stdin (or a pipe): nothing keeps the
	// bytes sent, and it cannot be read again.
	NoResumeStdin = "a stream from stdin cannot resume, it cannot be read again (send a file from disk to be able to reconnect)"
	// NoResumeNoHashes is an offer without file hashes (a browser's files,
	// or more than MaxSums files): nothing to check a partial file against.
	NoResumeNoHashes = "the offer carries no file hashes to resume from"
)

// Broken tells whether the path itself failed under c: a read or write on
// it returned an error (a reset, the idle timeout, an end before the
// stream's), as opposed to a failure above it (a bad stream, a full disk).
func (c *Conn) Broken() bool { return c.failure.Load() != nil }

// PathError is the error of the first read or write that failed on the
// path (Broken), or nil.
func (c *Conn) PathError() error {
	if f := c.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

func (c *Conn) noteFailure(err error) { c.failure.CompareAndSwap(nil, &pathFailure{err}) }

// Read reads from the connection, noting a failure of the path.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(p)
	if err != nil {
		c.noteFailure(err)
	}
	return n, err
}

// Write writes to the connection, noting a failure of the path.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(p)
	if err != nil {
		c.noteFailure(err)
	}
	return n, err
}

var _ io.ReadWriter = (*Conn)(nil)

// WaitRetry waits for the peer's Retry for attempt (the sender waits for
// the receiver's answer), or, when attempt is 0, for any Retry newer than
// after (the receiver waits for the sender's request). A peer's error ends
// the wait with that error; other messages are dropped.
func (c *Channel) WaitRetry(ctx context.Context, attempt, after int) (*Retry, error) {
	for {
		e, err := c.Next(ctx)
		if err != nil {
			return nil, err
		}
		if e.Error != nil {
			return nil, PeerError("the other side", *e.Error)
		}
		if e.Ferry == nil || e.Ferry.Retry == nil {
			continue
		}
		r := e.Ferry.Retry
		if (attempt > 0 && r.Attempt == attempt) || (attempt == 0 && r.Attempt > after) {
			return r, nil
		}
	}
}
