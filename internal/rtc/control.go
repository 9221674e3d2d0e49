package rtc

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Control messages (text messages on the data channel).
const (
	ctlGrant = "w "  // followed by the decimal number of bytes granted
	ctlEOF   = "eof" // the writer is done
	// maxControl caps a control message; maxCredit caps what the peer may
	// grant in all (far beyond any transfer: it only guards the sum).
	maxControl = 32
	maxCredit  = 1 << 50
)

func grant(n int) string { return ctlGrant + strconv.Itoa(n) }

// control handles one control message from the peer.
func (c *Conn) control(b []byte) {
	if len(b) > maxControl {
		c.violation("a control message of %d bytes", len(b))
		return
	}
	s := string(b)
	switch {
	case s == ctlEOF:
		c.mu.Lock()
		c.peerEOF = true
		c.mu.Unlock()
		wake(c.readable)
	case strings.HasPrefix(s, ctlGrant):
		n, err := strconv.Atoi(s[len(ctlGrant):])
		if err != nil || n <= 0 || n > Window*4 {
			c.violation("a grant of %q", s[len(ctlGrant):])
			return
		}
		c.mu.Lock()
		over := c.credit+n > maxCredit
		c.credit += n
		c.mu.Unlock()
		if over {
			c.violation("more credit than anyone needs")
			return
		}
		wake(c.writable)
	default:
		c.violation("an unknown control message %q", s)
	}
}

// sendControl sends a control message; if that fails the connection is
// gone anyway, and Read or Write reports why.
func (c *Conn) sendControl(s string) {
	if err := c.dc.SendText(s); err != nil {
		c.log.Debug("rtc: send control", "err", err)
	}
}

// CloseWrite tells the peer we are done writing: after what we wrote, its
// Read returns io.EOF. Reading goes on.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock() // after a Write in progress
	defer c.wmu.Unlock()
	c.mu.Lock()
	err := c.writeErr()
	if err == nil {
		c.wroteEOF = true
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.dc.SendText(ctlEOF); err != nil {
		c.fail(err)
		return c.Err()
	}
	return nil
}

// Close ends the connection in order: it sends "eof" unless CloseWrite
// did, waits until what was written has left (BufferedAmount is zero; at
// most CloseDrain), closes the data channel and waits, within the same
// bound, for that to complete, and closes the peer connection.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		healthy := c.local == nil && c.err == nil
		writing := healthy && !c.wroteEOF
		c.mu.Unlock()
		if writing {
			_ = c.CloseWrite()
		}
		ctx, cancel := context.WithTimeout(context.Background(), CloseDrain)
		defer cancel()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for healthy && c.Err() == nil && c.dc.BufferedAmount() > 0 && ctx.Err() == nil {
			select {
			case <-tick.C:
			case <-c.dead:
			case <-ctx.Done():
			}
		}
		c.mu.Lock()
		if c.local == nil {
			c.local = errClosed
		}
		largest := c.largest
		c.mu.Unlock()
		c.log.Debug("rtc: closing", "largest_message_received", largest, "largest_message_sent", c.chunk)
		c.kill()
		if err := c.dc.Close(); err == nil && healthy {
			select {
			case <-c.chClosed:
			case <-ctx.Done():
			}
		}
		_ = c.pc.Close()
	})
	return nil
}

// Abort ends the connection at once: blocked and later reads and writes
// fail with ErrAborted, and the peer connection closes without waiting
// for anything.
func (c *Conn) Abort() {
	c.mu.Lock()
	if c.local == nil {
		c.local = ErrAborted
	}
	c.mu.Unlock()
	c.kill()
	c.closeOnce.Do(func() { _ = c.pc.Close() })
}
