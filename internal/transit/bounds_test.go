package transit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A write that outlasts the idle timeout is no stall while its bytes
// keep moving.
func TestIdleSlowWriteIsNoStall(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := WithIdle(a, 200*time.Millisecond)
	go func() {
		buf := make([]byte, 1<<10)
		for {
			time.Sleep(20 * time.Millisecond)
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	n, err := c.Write(make([]byte, 24<<10)) // 24 reads of 1 KiB: about 0.5 s
	if err != nil || n != 24<<10 {
		t.Fatalf("Write = %d, %v after %s", n, err, time.Since(start))
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("the write took %s, less than one timeout: the test proves nothing", d)
	}
}

// A peer that takes nothing, or sends nothing, is a stall.
func TestIdleStall(t *testing.T) {
	for _, dir := range []string{"write", "read"} {
		t.Run(dir, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			c := WithIdle(a, 100*time.Millisecond)
			var err error
			if dir == "write" {
				_, err = c.Write([]byte("nobody reads this"))
			} else {
				_, err = c.Read(make([]byte, 1))
			}
			if !errors.Is(err, ErrStalled) {
				t.Fatalf("%s on a silent peer: %v, want ErrStalled", dir, err)
			}
			if ic := c.(*IdleConn); !errors.Is(ic.Stalled(), ErrStalled) {
				t.Fatalf("Stalled() = %v after the timeout", ic.Stalled())
			}
		})
	}
}

// Other errors pass through, and Stalled stays nil.
func TestIdleOtherErrors(t *testing.T) {
	a, b := net.Pipe()
	c := WithIdle(a, time.Second)
	b.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the peer closed: %v, want EOF", err)
	}
	if err := c.(*IdleConn).Stalled(); err != nil {
		t.Fatalf("Stalled() = %v, want nil", err)
	}
	a.Close()
}
