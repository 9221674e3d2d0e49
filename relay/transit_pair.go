package relay

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// transitPair is two connections relaying to each other.
type transitPair struct {
	s      *TransitServer
	token  string
	conns  [2]*transitConn // the one that waited, the one that completed the pair
	ready  chan struct{}   // closed once both were told "ok"
	closed chan struct{}   // closed once both connections are closed
	paired time.Time

	last  atomic.Int64    // time of the last bytes read, in Unix nanoseconds
	bytes [2]atomic.Int64 // bytes read from conns[i] (and written to the other)
	ended atomic.Int32    // directions that ended with a half-close

	closeOnce sync.Once
	mu        sync.Mutex
	idle      *time.Timer // guarded by mu
}

// newTransitPair makes a pair of w, which waited, and tc, which came
// second, and starts its idle timer.
func newTransitPair(s *TransitServer, w, tc *transitConn) *transitPair {
	p := &transitPair{
		s:      s,
		token:  tc.token,
		conns:  [2]*transitConn{w, tc},
		ready:  make(chan struct{}),
		closed: make(chan struct{}),
		paired: time.Now(),
	}
	s.metrics.pairs.Add(1)
	p.touch()
	p.mu.Lock()
	p.idle = time.AfterFunc(s.cfg.IdleTimeout, p.checkIdle)
	p.mu.Unlock()
	return p
}

// start tells both connections "ok": the one that came second first, so
// that no relayed byte can reach it ahead of its "ok".
func (p *transitPair) start() {
	defer close(p.ready)
	// The handshake and the wait are over: no more read deadlines.
	p.conns[0].c.SetReadDeadline(time.Time{})
	p.conns[1].c.SetReadDeadline(time.Time{})
	for _, tc := range []*transitConn{p.conns[1], p.conns[0]} {
		tc.c.SetWriteDeadline(time.Now().Add(p.s.cfg.WriteTimeout))
		_, err := io.WriteString(tc.c, "ok\n")
		tc.c.SetWriteDeadline(time.Time{})
		if err != nil {
			p.close("could not send ok")
			return
		}
	}
}

// touch records traffic now.
func (p *transitPair) touch() { p.last.Store(time.Now().UnixNano()) }

// checkIdle closes the pair if nothing moved for IdleTimeout, or checks
// again when that would be the case.
func (p *transitPair) checkIdle() {
	idle := p.s.cfg.IdleTimeout
	since := time.Since(time.Unix(0, p.last.Load()))
	if since >= idle {
		p.s.metrics.refused.add(transitIdle)
		p.close("idle")
		return
	}
	p.mu.Lock()
	p.idle.Reset(idle - since)
	p.mu.Unlock()
}

// close closes both connections, once, and forgets the pair.
func (p *transitPair) close(reason string) {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.idle.Stop()
		p.mu.Unlock()
		p.conns[0].c.Close()
		p.conns[1].c.Close()
		s := p.s
		s.mu.Lock()
		if s.relaying[p.token] == p {
			delete(s.relaying, p.token)
		}
		s.mu.Unlock()
		s.log.Info("transit: pair closed",
			"token", describeToken(p.token, p.conns[1].side),
			"reason", reason,
			"bytes", p.bytes[0].Load()+p.bytes[1].Load(),
			"duration", time.Since(p.paired).Round(time.Millisecond))
		close(p.closed)
	})
}
