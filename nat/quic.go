package nat

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/quic-go/quic-go"
)

// Flow-control windows. quic-go's defaults (6 MiB per stream, 15 MiB per
// connection at most) cap a single stream at window/RTT; these let one
// stream fill a fast path with tens of milliseconds of latency: the
// bandwidth-delay product of 100 Mbit/s at 50 ms is 625 KB, of 1 Gbit/s at
// 100 ms 12.5 MB. They also bound what a receiver holds that its reader has
// not taken: with 32 and 48 MiB a QUIC receiver once peaked at 68 MiB of
// RSS (scripts/bench), over issue 14's 48 MiB per side; 16 MiB per stream
// still carries 320 MB/s at 50 ms. The sockets' 8 MiB buffers
// (socketBuffer) are above the 7 MiB quic-go asks for.
const (
	initialStreamWindow = 8 << 20
	maxStreamWindow     = 16 << 20
	initialConnWindow   = 12 << 20
	maxConnWindow       = 24 << 20
)

// hello is the first byte each side writes on the stream. The dialer's makes
// the stream visible to the acceptor (QUIC streams appear with their first
// data); the acceptor's tells the dialer that the acceptor has verified the
// dialer's certificate, which in TLS 1.3 happens after the dialer's
// handshake has already completed.
const hello byte = 0xfe

// QUIC application error codes sent in CONNECTION_CLOSE.
const (
	codeDone    quic.ApplicationErrorCode = 0 // orderly shutdown
	codeAborted quic.ApplicationErrorCode = 1 // shutdown did not complete, or a failure
)

// consentLost is the reason in the CONNECTION_CLOSE sent when ICE fails.
const consentLost = "ice consent lost"

// ErrHello reports a peer that opened the session with unexpected bytes.
var ErrHello = errors.New("nat: unexpected session greeting")

// quicConfig leaves path MTU discovery (DPLPMTUD) on, as quic-go has it by
// default: from InitialPacketSize's 1280 bytes it probes up to quic-go's
// largest packet (1452 bytes) where the path allows. A larger initial size
// would lose the handshake on paths with a smaller MTU (tunnels).
func quicConfig() *quic.Config {
	return &quic.Config{
		HandshakeIdleTimeout:           10 * time.Second,
		MaxIdleTimeout:                 30 * time.Second,
		KeepAlivePeriod:                10 * time.Second,
		InitialStreamReceiveWindow:     initialStreamWindow,
		MaxStreamReceiveWindow:         maxStreamWindow,
		InitialConnectionReceiveWindow: initialConnWindow,
		MaxConnectionReceiveWindow:     maxConnWindow,
		MaxIncomingStreams:             1, // the session stream
		MaxIncomingUniStreams:          1, // the shutdown confirmation
	}
}

// Dial runs the client side of a QUIC session over pc (from the controlling
// or the controlled agent: QUIC roles are independent of ICE roles, but the
// two peers must pick opposite ones). It authenticates with id, accepts only
// the certificate whose fingerprint is peerFingerprint, and returns the
// session's single bidirectional stream. Dial owns pc from then on: it is
// closed when Dial fails or when the stream is closed.
func Dial(ctx context.Context, pc PacketConn, id *Identity, peerFingerprint []byte) (*Stream, error) {
	if err := checkFingerprint(peerFingerprint); err != nil {
		_ = pc.Close()
		return nil, err
	}
	tr := &quic.Transport{Conn: pc}
	if sp, ok := pc.(*socketPacketConn); ok {
		tr = sp.shared.tr
		sp.shared.stopListening()
	}
	conf := id.tlsConfig(false, bytes.Clone(peerFingerprint), nil)
	conn, err := tr.Dial(ctx, pc.RemoteAddr(), conf, quicConfig())
	if err != nil {
		closeTransport(tr, pc)
		return nil, fmt.Errorf("nat: quic handshake: %w", err)
	}
	watchConsent(conn, pc)
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		closeConn(conn, tr, pc)
		return nil, fmt.Errorf("nat: open quic stream: %w", err)
	}
	s := newStream(conn, str, tr, pc)
	err = withContext(ctx, str, func() error {
		if _, err := str.Write([]byte{hello}); err != nil {
			return err
		}
		return readHello(str)
	})
	if err != nil {
		s.Abort()
		return nil, fmt.Errorf("nat: quic greeting: %w", err)
	}
	return s, nil
}

// Accept runs the server side of a QUIC session over pc; see Dial. A peer
// presenting any certificate other than the pinned one makes it fail at once.
func Accept(ctx context.Context, pc PacketConn, id *Identity, peerFingerprint []byte) (*Stream, error) {
	if err := checkFingerprint(peerFingerprint); err != nil {
		_ = pc.Close()
		return nil, err
	}
	// A connection attempt that fails its handshake never reaches
	// Listener.Accept; learn about it from the certificate check and from
	// the connection's context, and give up rather than wait for ctx.
	failed := make(chan error, 1)
	fail := func(err error) {
		select {
		case failed <- err:
		default:
		}
	}
	conf := id.tlsConfig(true, bytes.Clone(peerFingerprint), fail)
	tr, ln, err := listen(pc, conf, fail)
	if err != nil {
		return nil, err
	}
	conn, err := acceptOne(ctx, ln, failed)
	_ = ln.Close() // one session per agent; the accepted one lives on
	if err != nil {
		closeTransport(tr, pc)
		return nil, fmt.Errorf("nat: quic handshake: %w", err)
	}
	watchConsent(conn, pc)
	str, err := conn.AcceptStream(ctx)
	if err != nil {
		closeConn(conn, tr, pc)
		return nil, fmt.Errorf("nat: accept quic stream: %w", err)
	}
	s := newStream(conn, str, tr, pc)
	err = withContext(ctx, str, func() error {
		if err := readHello(str); err != nil {
			return err
		}
		_, err := str.Write([]byte{hello})
		return err
	})
	if err != nil {
		s.Abort()
		return nil, fmt.Errorf("nat: quic greeting: %w", err)
	}
	return s, nil
}

// listen returns the transport and listener for Accept: on a shared socket
// (socketPacketConn) the shared socket's, told to take only the peer's
// connection; otherwise a transport over the ICE connection, which carries
// only the peer's packets. fail hears of failed connection attempts. On
// failure, listen closes pc.
func listen(pc PacketConn, conf *tls.Config, fail func(error)) (*quic.Transport, *quic.Listener, error) {
	if sp, ok := pc.(*socketPacketConn); ok {
		if err := sp.shared.startAccept(pc.RemoteAddr(), conf, fail); err != nil {
			_ = pc.Close()
			return nil, nil, err
		}
		return sp.shared.tr, sp.shared.ln, nil
	}
	tr := &quic.Transport{
		Conn: pc,
		ConnContext: func(cctx context.Context, _ *quic.ClientInfo) (context.Context, error) {
			context.AfterFunc(cctx, func() { fail(context.Cause(cctx)) })
			return cctx, nil
		},
	}
	ln, err := tr.Listen(conf, quicConfig())
	if err != nil {
		closeTransport(tr, pc)
		return nil, nil, fmt.Errorf("nat: quic listen: %w", err)
	}
	return tr, ln, nil
}

// watchConsent ends conn when ICE loses consent to send on the pair (RFC
// 7675: no answer to its checks for the failed timeout) while QUIC drives
// the shared socket directly. Over the ICE connection, ICE itself stops
// carrying QUIC's packets then.
func watchConsent(conn *quic.Conn, pc PacketConn) {
	sp, ok := pc.(*socketPacketConn)
	if !ok {
		return
	}
	go func() {
		select {
		case <-sp.agent.failed:
			_ = conn.CloseWithError(codeAborted, consentLost)
		case <-conn.Context().Done():
		}
	}()
}

func acceptOne(ctx context.Context, ln *quic.Listener, failed <-chan error) (*quic.Conn, error) {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		conn *quic.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept(actx)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case err := <-failed:
		cancel()
		if r := <-done; r.conn != nil {
			_ = r.conn.CloseWithError(codeAborted, "")
		}
		if err == nil {
			err = errors.New("connection attempt failed")
		}
		return nil, err
	}
}

func readHello(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b[0] != hello {
		return ErrHello
	}
	return nil
}

// withContext runs f, which does stream I/O, and interrupts it when ctx ends.
func withContext(ctx context.Context, str *quic.Stream, f func() error) error {
	stop := context.AfterFunc(ctx, func() { _ = str.SetDeadline(time.Now()) })
	err := f()
	if !stop() {
		return ctx.Err()
	}
	return err
}

func closeTransport(tr *quic.Transport, pc PacketConn) {
	_ = tr.Close()
	_ = pc.Close()
}

func closeConn(conn *quic.Conn, tr *quic.Transport, pc PacketConn) {
	_ = conn.CloseWithError(codeAborted, "")
	closeTransport(tr, pc)
}
