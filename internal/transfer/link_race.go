package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ferrydrop/ferry/internal/transit"
)

type attempt struct {
	conn *Conn
	err  error
}

// pick is the sender's choice.
func (l *Link) pick(ctx context.Context, ch *Channel, results <-chan attempt, n int) (*Conn, error) {
	var best *Conn
	var errs []error
	var grace <-chan time.Time
	for n > 0 && (best == nil || best.Path != PathDirect) {
		select {
		case a := <-results:
			n--
			switch {
			case a.err != nil:
				errs = append(errs, a.err)
			case best == nil || rank(a.conn.Path) > rank(best.Path):
				if best != nil {
					go best.Close() // a WebRTC channel closes in order, which takes a round trip
				}
				best = a.conn
				grace = time.After(tcpGrace)
			default:
				go a.conn.Close()
			}
		case <-grace:
			n = 0
		case <-ch.PeerFailed():
			if best != nil {
				best.Abort()
			}
			go closeLate(results, n)
			return nil, ch.failedConnect()
		case <-ctx.Done():
			if best != nil {
				best.Abort()
			}
			go closeLate(results, n)
			return nil, ctx.Err()
		}
	}
	if best == nil {
		return nil, &transit.NoPathError{Err: errors.Join(errs...)}
	}
	go closeLate(results, n)
	if _, err := best.Write([]byte{Chosen}); err != nil {
		best.Abort()
		return nil, fmt.Errorf("connect to the other side: %w", err)
	}
	l.log.Debug("link: chose", "path", best.Path)
	return best, nil
}

// follow is the receiver's side of pick: the first connection to carry
// the sender's mark wins; the others are closed.
func (l *Link) follow(ctx context.Context, ch *Channel, results <-chan attempt, n int) (*Conn, error) {
	marked := make(chan *Conn, n)
	var errs []error
	var open []*Conn
	pending, reading := n, 0
	abort := func() {
		for _, o := range open {
			o.Abort()
		}
		go closeLate(results, pending)
	}
	for {
		select {
		case a := <-results:
			pending--
			if a.err != nil {
				errs = append(errs, a.err)
			} else {
				open = append(open, a.conn)
				reading++
				go func(c *Conn) {
					b := make([]byte, 1)
					if _, err := io.ReadFull(c, b); err == nil && b[0] == Chosen {
						marked <- c
						return
					}
					marked <- nil
				}(a.conn)
			}
			if pending == 0 && reading == 0 {
				return nil, &transit.NoPathError{Err: errors.Join(errs...)}
			}
		case c := <-marked:
			if c == nil {
				if reading--; reading == 0 && pending == 0 {
					return nil, &transit.NoPathError{Err: errors.New("the sender chose no connection")}
				}
				continue
			}
			for _, o := range open {
				if o != c {
					go o.Close()
				}
			}
			go closeLate(results, pending)
			l.log.Debug("link: sender chose", "path", c.Path)
			return c, nil
		case <-ch.PeerFailed():
			abort()
			return nil, ch.failedConnect()
		case <-ctx.Done():
			abort()
			return nil, ctx.Err()
		}
	}
}

// closeLate closes connections that finish after the race was decided.
func closeLate(results <-chan attempt, n int) {
	for range n {
		if a := <-results; a.conn != nil {
			a.conn.Close()
		}
	}
}
