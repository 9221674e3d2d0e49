package stripe

import (
	"errors"
	"fmt"
	"time"
)

// writeLoop sends, on path p, what the connection has for it: an ack that
// is due, the lowest-numbered piece waiting, our fin, or a keepalive
// (the current ack) when p was quiet for PingEvery.
func (c *Conn) writeLoop(p *path) {
	defer c.wg.Done()
	buf := make([]byte, 0, headerLen+c.cfg.PieceSize)
	for {
		c.mu.Lock()
		var pc *piece
		buf = buf[:0]
		for {
			if p.failed != nil || c.aborted() {
				c.mu.Unlock()
				return
			}
			if c.ackDue || time.Since(p.lastWrite) >= c.cfg.PingEvery {
				buf = appendControl(buf, frameAck, c.next)
				c.ackDue, c.unackRead = false, 0
				break
			}
			if len(c.queue) > 0 {
				pc = c.queue[0]
				c.queue = c.queue[1:]
				pc.path = p.idx
				buf = appendData(buf, pc.seq, len(pc.data))
				buf = append(buf, pc.data...)
				break
			}
			if c.wclosed && !p.finSent {
				buf = appendControl(buf, frameFin, c.nextSeq)
				p.finSent = true
				break
			}
			c.cond.Wait()
		}
		p.lastWrite = time.Now()
		c.mu.Unlock()
		if _, err := p.rw.Write(buf); err != nil {
			c.mu.Lock()
			c.kill(p, fmt.Errorf("write: %w", err))
			c.mu.Unlock()
			return
		}
		if pc != nil {
			p.sent.Add(int64(len(pc.data)))
		}
	}
}

// aborted says whether Close or Abort ended the connection. c.mu is held.
func (c *Conn) aborted() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// readLoop takes what the peer sends on path p until p fails.
func (c *Conn) readLoop(p *path) {
	defer c.wg.Done()
	var hdr [headerLen]byte
	r := touchReader{p}
	// The piece being read, counted in heldBytes and c.reading.
	reserved, reservedSeq := 0, uint64(0)
	alloc := func(seq uint64, n int) ([]byte, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case seq < c.next || c.held[seq] != nil:
			c.ackDue = true // a piece sent again: our ack may have been lost
			c.cond.Broadcast()
			return nil, nil
		case c.fin && seq >= c.finTotal:
			return nil, fmt.Errorf("%w: piece %d after the end (%d pieces)", ErrProtocol, seq, c.finTotal)
		case seq >= c.next+maxPieces:
			return nil, fmt.Errorf("%w: piece %d is more than %d ahead of %d", ErrProtocol, seq, maxPieces, c.next)
		case c.heldBytes+int64(n) > c.cfg.Window+MaxPiece:
			return nil, fmt.Errorf("%w: more than the window in flight", ErrProtocol)
		}
		// Another path may be reading the same piece (sent again after
		// that path fell silent mid-piece): both read it, and the first
		// whole copy counts.
		c.reading[seq]++
		c.heldBytes += int64(n)
		reserved, reservedSeq = n, seq
		if n <= c.cfg.PieceSize {
			return c.buffer()[:n], nil
		}
		return make([]byte, n), nil
	}
	for {
		f, err := readFrame(r, &hdr, alloc)
		c.mu.Lock()
		if reserved > 0 {
			if c.reading[reservedSeq]--; c.reading[reservedSeq] == 0 {
				delete(c.reading, reservedSeq)
			}
			// A piece that did not arrive whole, or whose other copy came
			// first, gives its bytes back.
			if err != nil || reservedSeq < c.next || c.held[reservedSeq] != nil {
				c.heldBytes -= int64(reserved)
				if err == nil {
					c.reuse(f.data)
					f.data = nil
				}
			}
			reserved = 0
		}
		if err == nil {
			err = c.take(f)
		}
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				c.fail(err)
				go c.Abort()
			}
			c.kill(p, fmt.Errorf("read: %w", err))
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// take applies a frame from the peer. c.mu is held.
func (c *Conn) take(f frame) error {
	switch f.typ {
	case frameData:
		if f.data != nil {
			c.held[f.n] = f.data
			c.maxSeen = max(c.maxSeen, f.n+1)
		}
	case frameAck:
		if f.n > c.nextSeq {
			return fmt.Errorf("%w: ack of piece %d, of %d sent", ErrProtocol, f.n, c.nextSeq)
		}
		if f.n <= c.acked {
			break // a keepalive, or an ack overtaken on another path
		}
		c.acked = f.n
		cut := 0
		for cut < len(c.unacked) && c.unacked[cut].seq < f.n {
			c.inflight -= int64(len(c.unacked[cut].data))
			// Path writers copy a piece under c.mu: none refers to it now.
			c.reuse(c.unacked[cut].data)
			cut++
		}
		clear(c.unacked[:cut])
		c.unacked = c.unacked[cut:]
		for len(c.queue) > 0 && c.queue[0].seq < f.n { // resent pieces acked meanwhile
			c.queue = c.queue[1:]
		}
	case frameFin:
		if c.fin && f.n != c.finTotal {
			return fmt.Errorf("%w: the end moved from %d to %d pieces", ErrProtocol, c.finTotal, f.n)
		}
		if f.n < c.maxSeen || f.n < c.next {
			return fmt.Errorf("%w: the end at %d pieces, after piece %d", ErrProtocol, f.n, max(c.maxSeen, c.next)-1)
		}
		c.fin, c.finTotal = true, f.n
	}
	c.cond.Broadcast()
	return nil
}

// touchReader reads a path, noting when bytes last arrived on it (a big
// piece on a slow path is progress before it is whole).
type touchReader struct{ p *path }

func (t touchReader) Read(b []byte) (int, error) {
	n, err := t.p.rw.Read(b)
	if n > 0 {
		t.p.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}
