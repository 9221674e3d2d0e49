package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// transitConn is one client connection to a TransitServer.
type transitConn struct {
	s       *TransitServer
	c       net.Conn
	addr    clientKey // of the remote address
	ws      bool      // came over WebSocket, through Handler
	started time.Time

	// Set by the handshake, before the connection is shared.
	token, side string

	// Guarded by s.mu.
	pending bool         // counted against the pending limits
	pair    *transitPair // set when a partner is found
	dropped bool         // closed as a spare when another got the partner
	evicted bool         // its pair was closed to make room
}

// serve runs the connection to its end: the handshake, the wait for a
// partner and then the copy of this connection's bytes to the partner.
func (tc *transitConn) serve(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { tc.c.Close() })
	defer stop()
	// Until a partner comes, a connection needs only a line's worth of
	// buffer; junk and waiting connections cost little memory.
	buf := make([]byte, handshakeBufBytes)
	if p := tc.run(buf); p != nil {
		// The connection stays open (and counted) while its partner may
		// still write to it.
		<-p.closed
	}
	tc.c.Close()
	tc.s.mu.Lock()
	tc.s.leave(tc)
	tc.s.mu.Unlock()
}

// run does the handshake and the wait, then relays; it returns the pair,
// if one was made.
func (tc *transitConn) run(buf []byte) *transitPair {
	s := tc.s
	log := s.log.With("remote", tc.addr.addr)
	if tc.ws {
		log = log.With("websocket", true)
	}
	tc.c.SetReadDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	token, side, res, err := readRelayHandshake(tc.c, buf)
	switch res {
	case handshakeBad:
		log.Debug("transit: bad handshake")
		s.metrics.refused.add(transitBadHandshake)
		tc.refuse("bad handshake\n")
		return nil
	case handshakeImpatient:
		log.Debug("transit: data before ok")
		s.metrics.refused.add(transitImpatient)
		tc.refuse("impatient\n")
		return nil
	case handshakeFailed:
		log.Debug("transit: no handshake", "err", err)
		return nil
	}
	tc.token, tc.side = token, side
	log = log.With("token", describeToken(token, side))
	// The wait for a partner starts now (pairing clears the deadline).
	tc.c.SetReadDeadline(time.Now().Add(s.cfg.PairTimeout))
	p, why := s.match(tc)
	if why != "" {
		s.metrics.refused.add(transitAdmitReason(why))
		log.Debug("transit: connection refused", "reason", why)
		return nil
	}
	if p != nil {
		// This connection completed the pair: it tells both "ok".
		log.Info("transit: paired", "waited", time.Since(p.conns[0].started).Round(time.Millisecond))
		p.start()
		tc.relay(p, nil, nil)
		return p
	}
	log.Debug("transit: waiting for partner")
	n, err := tc.c.Read(buf)
	s.mu.Lock()
	p, dropped := tc.pair, tc.dropped
	if p == nil {
		s.unwait(tc)
	}
	s.mu.Unlock()
	if p == nil {
		switch {
		case dropped:
			log.Debug("transit: spare connection closed")
		case n > 0:
			log.Debug("transit: data before ok")
			s.metrics.refused.add(transitImpatient)
			tc.refuse("impatient\n")
		case isTimeout(err):
			s.metrics.refused.add(transitNoPartner)
			log.Debug("transit: no partner came", "after", s.cfg.PairTimeout)
		default:
			log.Debug("transit: left before a partner came", "err", err)
		}
		return nil
	}
	// Paired while reading: what was read is the first of the relayed
	// bytes (a partner's "ok" precedes it), and a deadline that expired
	// meanwhile is no error.
	<-p.ready
	tc.c.SetReadDeadline(time.Time{})
	if isTimeout(err) {
		err = nil
	}
	tc.relay(p, buf[:n], err)
	return p
}

// refuse sends a short error reply, then closes the connection gently:
// its unread input is drained for a moment so that closing does not reset
// the connection before the client has read the reply.
func (tc *transitConn) refuse(msg string) {
	tc.c.SetWriteDeadline(time.Now().Add(tc.s.cfg.WriteTimeout))
	if _, err := io.WriteString(tc.c, msg); err != nil {
		return
	}
	if cw, ok := tc.c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	tc.c.SetReadDeadline(time.Now().Add(time.Second))
	io.CopyN(io.Discard, tc.c, 64<<10)
}

// relay copies what this connection sends to its partner until it ends,
// starting with the bytes already read and the error that came with them.
func (tc *transitConn) relay(p *transitPair, first []byte, err error) {
	buf := make([]byte, tc.s.cfg.BufferBytes)
	n := copy(buf, first)
	i := 0
	if p.conns[1] == tc {
		i = 1
	}
	to := p.conns[1-i].c
	for {
		if n > 0 {
			p.touch()
			p.bytes[i].Add(int64(n))
			tc.s.metrics.bytes.Add(int64(n))
			if _, werr := to.Write(buf[:n]); werr != nil {
				p.close("write failed")
				return
			}
		}
		if errors.Is(err, io.EOF) {
			// Pass the half-close on; the other direction carries on.
			if cw, ok := to.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
			if p.ended.Add(1) == 2 {
				p.close("done")
			}
			return
		}
		if err != nil {
			p.close("read failed")
			return
		}
		n, err = tc.c.Read(buf)
	}
}

// match pairs tc with a waiting connection for its token, returning the
// new pair; or puts tc on the waiting list, returning nil; or says why tc
// is refused.
func (s *TransitServer) match(tc *transitConn) (*transitPair, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.relaying[tc.token] != nil {
		return nil, "token already relaying"
	}
	list := s.waiting[tc.token]
	for i, w := range list {
		if w.side != "" && tc.side != "" && w.side == tc.side {
			continue
		}
		// The spares from w's side are of no further use.
		for j, o := range list {
			if j != i {
				o.dropped = true
				s.unpend(o)
				o.c.Close()
			}
		}
		delete(s.waiting, tc.token)
		s.unpend(w)
		s.unpend(tc)
		p := newTransitPair(s, w, tc)
		w.pair, tc.pair = p, p
		s.relaying[tc.token] = p
		return p, ""
	}
	if len(list) >= s.cfg.MaxPendingPerToken {
		return nil, "too many connections waiting with this token"
	}
	s.waiting[tc.token] = append(list, tc)
	return nil, ""
}

// Results of readRelayHandshake.
const (
	handshakeOK        = iota
	handshakeBad       // not a "please relay" line
	handshakeImpatient // more bytes after the line
	handshakeFailed    // the connection ended or timed out first
)

// The parts of "please relay TOKEN for side SIDE\n".
const (
	relayPrefix  = "please relay "
	relaySided   = " for side "
	relayToken   = 64 // hex digits
	relaySide    = 16 // hex digits
	maxRelayLine = len(relayPrefix) + relayToken + len(relaySided) + relaySide + 1

	handshakeBufBytes = 256
)

// readRelayHandshake reads the handshake line, using buf (more than
// maxRelayLine bytes). It rejects the line as soon as it can no longer
// become a handshake, so it never reads much more than maxRelayLine bytes.
func readRelayHandshake(r io.Reader, buf []byte) (token, side string, res int, err error) {
	n := 0
	for {
		var m int
		m, err = r.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			token, side, ok := parseRelayLine(buf[:i+1])
			switch {
			case !ok:
				return "", "", handshakeBad, nil
			case n > i+1:
				return "", "", handshakeImpatient, nil
			}
			return token, side, handshakeOK, nil
		}
		if old, _ := matchRelayLine(buf[:n], false); !old {
			if sided, _ := matchRelayLine(buf[:n], true); !sided {
				return "", "", handshakeBad, nil
			}
		}
		if err != nil {
			return "", "", handshakeFailed, err
		}
	}
}

// parseRelayLine parses a complete handshake line, with its newline.
func parseRelayLine(b []byte) (token, side string, ok bool) {
	t := func() string { return string(b[len(relayPrefix) : len(relayPrefix)+relayToken]) }
	if _, full := matchRelayLine(b, false); full {
		return t(), "", true
	}
	if _, full := matchRelayLine(b, true); full {
		start := len(relayPrefix) + relayToken + len(relaySided)
		return t(), string(b[start : start+relaySide]), true
	}
	return "", "", false
}

// matchRelayLine reports whether b could begin a handshake line (prefix)
// and whether it is a whole one (full), in the old form or the sided one.
func matchRelayLine(b []byte, sided bool) (prefix, full bool) {
	type part struct {
		lit string // literal text, or
		hex int    // this many hex digits
	}
	parts := []part{{lit: relayPrefix}, {hex: relayToken}, {lit: "\n"}}
	if sided {
		parts = []part{{lit: relayPrefix}, {hex: relayToken}, {lit: relaySided}, {hex: relaySide}, {lit: "\n"}}
	}
	for _, p := range parts {
		want := len(p.lit) + p.hex
		for j := range min(want, len(b)) {
			if p.lit != "" && b[j] != p.lit[j] || p.lit == "" && !isHexDigit(b[j]) {
				return false, false
			}
		}
		if len(b) < want {
			return true, false
		}
		b = b[want:]
	}
	return len(b) == 0, len(b) == 0
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// describeToken names a connection in logs as the reference server does:
// the token's first 16 digits and the side.
func describeToken(token, side string) string {
	if side == "" {
		side = "<unsided>"
	}
	return token[:16] + "-" + side
}

func isTimeout(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
