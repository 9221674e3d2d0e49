package nat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// DefaultLinger bounds how long Close waits for the peer to confirm an
// orderly shutdown.
const DefaultLinger = 10 * time.Second

// Stream is the session's one reliable, ordered, bidirectional byte stream,
// from Dial or Accept. Read and Write may be used from two goroutines.
//
// Shutting down: a side that has sent everything calls CloseWrite; the peer
// then reads io.EOF after the last byte. Close (or Shutdown) ends the
// session in order: it closes the write side if still open, stops reading
// if io.EOF has not been seen yet, tells the peer it is done, and waits for
// the peer to say the same (or to close), so that everything written before
// arrives even though the QUIC connection is torn down right after. A sender
// that wants the receiver's verdict does: Write...; CloseWrite; read the
// reply until io.EOF; Close. The receiver: read until io.EOF; Write the
// reply; Close.
type Stream struct {
	conn *quic.Conn
	str  *quic.Stream
	tr   *quic.Transport
	pc   PacketConn

	readEOF   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ io.ReadWriteCloser = (*Stream)(nil)

func newStream(conn *quic.Conn, str *quic.Stream, tr *quic.Transport, pc PacketConn) *Stream {
	return &Stream{conn: conn, str: str, tr: tr, pc: pc}
}

// OnSocket reports whether QUIC runs on the agent's UDP socket directly
// (host and server-reflexive local candidates: batched reads and writes,
// GSO where the kernel has it) rather than through the ICE connection (a
// relayed pair).
func (s *Stream) OnSocket() bool {
	_, ok := s.pc.(*socketPacketConn)
	return ok
}

// Read reads from the peer; it returns io.EOF after the peer's CloseWrite.
func (s *Stream) Read(p []byte) (int, error) {
	n, err := s.str.Read(p)
	if errors.Is(err, io.EOF) {
		s.readEOF.Store(true)
	}
	return n, err
}

// Write writes to the peer. It blocks while flow control is exhausted.
func (s *Stream) Write(p []byte) (int, error) { return s.str.Write(p) }

// CloseWrite ends the write side: the peer reads io.EOF after the data
// written so far, which QUIC keeps retransmitting as long as the session
// lives. It must not be called concurrently with Write.
func (s *Stream) CloseWrite() error {
	if err := s.str.Close(); err != nil {
		return fmt.Errorf("nat: close write side: %w", err)
	}
	return nil
}

// SetDeadline, SetReadDeadline and SetWriteDeadline set I/O deadlines as for
// net.Conn.
func (s *Stream) SetDeadline(t time.Time) error      { return s.str.SetDeadline(t) }
func (s *Stream) SetReadDeadline(t time.Time) error  { return s.str.SetReadDeadline(t) }
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.str.SetWriteDeadline(t) }

// Close is Shutdown with a DefaultLinger timeout.
func (s *Stream) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultLinger)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown ends the session in order (see Stream) and releases everything
// under it: the QUIC connection, the PacketConn and so the ICE agent. It
// waits for the peer to shut down too (to call Close or Shutdown) and
// returns an error when the peer did not confirm before ctx ended or went
// away; a cancelled ctx aborts at once. Later calls return the first call's
// result.
func (s *Stream) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.shutdown(ctx) })
	return s.closeErr
}

func (s *Stream) shutdown(ctx context.Context) error {
	var errs []error
	// This fails only when the peer has stopped reading (it closed without
	// reading to the end): then there is nothing left to flush.
	_ = s.str.Close()
	if !s.readEOF.Load() {
		s.str.CancelRead(0) // the caller is not going to read the rest
	}
	// Confirmation: an empty unidirectional stream, sent once our write
	// side is closed and our read side finished.
	bye, err := s.conn.OpenUniStream()
	if err == nil {
		err = bye.Close()
	}
	confirmed, peerClosed := false, false
	if err != nil {
		errs = append(errs, fmt.Errorf("nat: send shutdown: %w", err))
	} else if peerClosed, err = s.awaitPeer(ctx); err != nil {
		errs = append(errs, err)
	} else {
		confirmed = true
	}
	// The peer reads code 0 as our confirmation: send it only when the
	// peer's confirmation arrived, that is when we have read all we will.
	code := codeAborted
	if confirmed {
		code = codeDone
	}
	_ = s.conn.CloseWithError(code, "")
	if confirmed && !peerClosed {
		s.linger(ctx)
	}
	_ = s.tr.Close()
	_ = s.pc.Close()
	return errors.Join(errs...)
}

// awaitPeer waits for the peer's confirmation, or for the peer to close the
// connection in order (which it does only after receiving ours).
func (s *Stream) awaitPeer(ctx context.Context) (peerClosed bool, _ error) {
	_, err := s.conn.AcceptUniStream(ctx)
	if err == nil {
		return false, nil
	}
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) && appErr.Remote && appErr.ErrorCode == codeDone {
		return true, nil
	}
	return false, fmt.Errorf("nat: peer did not confirm shutdown: %w", err)
}

// linger keeps the transport alive for a few round trips after we closed
// first, so that quic-go can repeat the CONNECTION_CLOSE should the first
// one be lost while the peer still waits for our confirmation.
func (s *Stream) linger(ctx context.Context) {
	d := 3*s.conn.ConnectionStats().SmoothedRTT + 10*time.Millisecond
	d = min(d, time.Second)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Abort tears the session down without ceremony: it unblocks a Read or
// Write in another goroutine at once and tells the peer the session failed.
func (s *Stream) Abort() {
	s.closeOnce.Do(func() {
		s.closeErr = errors.New("nat: session aborted")
		_ = s.conn.CloseWithError(codeAborted, "")
		_ = s.tr.Close()
		_ = s.pc.Close()
	})
}
