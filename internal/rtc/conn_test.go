package rtc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// Both directions carry a stream intact; "eof" ends each, and the orderly
// Close loses nothing the writer wrote just before it.
func TestRoundTrip(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	off, ans := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	if p := off.Path(); !strings.HasPrefix(p, "host/") {
		t.Errorf("offerer's pair = %q, want host/…", p)
	}
	const size = 6<<20 + 12345
	want, _, _ := digest(stream(1, size))
	back := []byte("the last word, written just before Close")
	got := make(chan error, 1)
	go func() { // the answerer reads all, then answers and closes at once
		sum, n, err := digest(ans)
		switch {
		case err != nil:
			got <- err
		case n != size || sum != want:
			got <- errors.New("the answerer got different bytes")
		default:
			_, err := ans.Write(back)
			if cerr := ans.Close(); err == nil {
				err = cerr
			}
			got <- err
		}
	}()
	if _, err := io.Copy(off, stream(1, size)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := off.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	reply, err := io.ReadAll(off)
	if err != nil {
		t.Fatalf("read the reply: %v", err)
	}
	if !bytes.Equal(reply, back) {
		t.Fatalf("reply = %q, want %q", reply, back)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	off.Close()
	if _, err := off.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// A reader that takes nothing stops the writer at the window: the writer
// gets no further than Window bytes however long it tries, the reader's
// queue holds at most Window, and BufferedAmount stays below HighWater
// plus a message all along. When the reader then reads slowly, everything
// arrives intact within the same bounds.
func TestSlowReaderBoundsWriter(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	w, r := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	const size = 3 * Window
	var written countWriter
	wrote := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(w, &written), stream(2, size))
		wrote <- err
	}()
	// Wait until the window is full at the reader's side.
	for r.Queued() < Window {
		select {
		case err := <-wrote:
			t.Fatalf("the writer finished (%v) with nothing read", err)
		case <-ctx.Done():
			t.Fatalf("the reader's queue reached only %d bytes", r.Queued())
		case <-time.After(5 * time.Millisecond):
		}
		checkBounds(t, w, r)
	}
	// Give the writer every chance to overrun the window.
	for range 40 {
		time.Sleep(5 * time.Millisecond)
		checkBounds(t, w, r)
	}
	if n := written.n.Load(); n > Window {
		t.Fatalf("the writer got %d bytes out with nothing read, window %d", n, Window)
	}
	// Now read slowly, in small bites.
	var got bytes.Buffer
	buf := make([]byte, 100<<10)
	for int64(got.Len()) < size {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got.Len(), err)
		}
		checkBounds(t, w, r)
		if got.Len()%(1<<20) < len(buf) {
			time.Sleep(time.Millisecond)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	want, _, _ := digest(stream(2, size))
	if sum, _, _ := digest(&got); sum != want {
		t.Fatal("the reader got different bytes")
	}
}

func checkBounds(t *testing.T, w, r *Conn) {
	t.Helper()
	if q := r.Queued(); q > Window {
		t.Fatalf("the reader queued %d bytes, window %d", q, Window)
	}
	if b := w.BufferedAmount(); b >= HighWater+MaxMessage {
		t.Fatalf("the writer's channel buffers %d bytes, high water %d", b, HighWater)
	}
}

// A peer that sends past the window it was granted is cut off: the
// connection fails with ErrProtocol, and what it queued never exceeds the
// window.
func TestPeerBeyondWindowIsCutOff(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	liar, victim := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	msg := make([]byte, MaxMessage)
	sent := 0
	for sent <= 2*Window { // straight onto the channel, ignoring credit
		if liar.dc.BufferedAmount() > HighWater {
			time.Sleep(time.Millisecond)
			if victim.Err() != nil {
				break
			}
			continue
		}
		if err := liar.dc.Send(msg); err != nil {
			break
		}
		sent += len(msg)
	}
	select {
	case <-victim.dead:
	case <-ctx.Done():
		t.Fatal("the victim took more than twice its window without complaint")
	}
	if q := victim.Queued(); q > Window {
		t.Errorf("the victim queued %d bytes, window %d", q, Window)
	}
	buf := make([]byte, 1<<20)
	var err error
	for err == nil {
		_, err = victim.Read(buf)
	}
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("victim's Read = %v, want ErrProtocol", err)
	}
	if _, err := victim.Write([]byte("x")); !errors.Is(err, ErrProtocol) {
		t.Errorf("victim's Write = %v, want ErrProtocol", err)
	}
}

// Malformed control messages end the connection too.
func TestBadControlMessages(t *testing.T) {
	for _, msg := range []string{"w -5", "w 0", "w 99999999999999999999", "w x", "hello", strings.Repeat("w", 40)} {
		t.Run(msg[:min(len(msg), 10)], func(t *testing.T) {
			ctx := testContext(t, 20*time.Second)
			liar, victim := connected(ctx, t, loopback(Offerer), loopback(Answerer))
			if err := liar.dc.SendText(msg); err != nil {
				t.Fatal(err)
			}
			select {
			case <-victim.dead:
			case <-ctx.Done():
				t.Fatal("no failure")
			}
			if err := victim.Err(); !errors.Is(err, ErrProtocol) {
				t.Fatalf("Err = %v, want ErrProtocol", err)
			}
		})
	}
}

// Deadlines stop a blocked Read and a blocked Write with a timeout error,
// as transit.WithIdle expects.
func TestDeadlines(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	a, b := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	_ = b
	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := a.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("Read = %v, want a timeout", err)
	}
	a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := a.Write(make([]byte, 2*Window)) // b reads nothing
	if !isTimeout(err) || n > Window {
		t.Fatalf("Write = %d, %v; want at most %d and a timeout", n, err, Window)
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// Abort unblocks a Read waiting for data and a Write waiting for credit
// at once, and both fail with ErrAborted.
func TestAbortUnblocks(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	a, b := connected(ctx, t, loopback(Offerer), loopback(Answerer))
	_ = b
	read, wrote := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 10))
		read <- err
	}()
	go func() {
		_, err := a.Write(make([]byte, 2*Window)) // b reads nothing
		wrote <- err
	}()
	credit := func() int {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.credit
	}
	for credit() > 0 && ctx.Err() == nil { // until the writer waits
		time.Sleep(time.Millisecond)
	}
	a.Abort()
	for _, ch := range []chan error{read, wrote} {
		select {
		case err := <-ch:
			if !errors.Is(err, ErrAborted) {
				t.Errorf("after Abort: %v, want ErrAborted", err)
			}
		case <-ctx.Done():
			t.Fatal("Abort did not unblock")
		}
	}
}
