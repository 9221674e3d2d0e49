package nat

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestCloseFlushes: data written just before Close arrives in full, and
// Close returns only once the peer has confirmed.
func TestCloseFlushes(t *testing.T) {
	const size = 4 << 20
	_, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	got := make(chan int64, 1)
	closed := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // let the sender reach Close first
		n, err := io.Copy(io.Discard, sB)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		got <- n
		closed <- sB.Close()
	}()
	if _, err := sA.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := sA.Close(); err != nil {
		t.Fatalf("sender Close: %v", err)
	}
	select {
	case n := <-got:
		if n != size {
			t.Fatalf("receiver got %d bytes, want %d", n, size)
		}
	default:
		t.Fatal("sender's Close returned before the receiver had read everything")
	}
	if err := <-closed; err != nil {
		t.Fatalf("receiver Close: %v", err)
	}
}

// TestCloseUnread: closing without reading what the peer sent stops the
// peer's writes instead of hanging, and both sides finish promptly.
func TestCloseUnread(t *testing.T) {
	_, _, pcA, pcB := loopbackPair(t)
	sA, sB := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	writeErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := sA.Write(buf); err != nil {
				writeErr <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	closedB := make(chan error, 1)
	go func() { closedB <- sB.Close() }() // returns once A closes too
	select {
	case err := <-writeErr:
		t.Logf("writer stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("writer still writing 5s after the reader closed")
	}
	if err := sA.Close(); err != nil {
		t.Errorf("writer's Close: %v", err)
	}
	if err := <-closedB; err != nil {
		t.Errorf("reader's Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("closing took %v", d)
	}
}

// TestShutdownCancelled: a cancelled context aborts at once, with an error.
func TestShutdownCancelled(t *testing.T) {
	_, _, pcA, pcB := loopbackPair(t)
	sA, _ := quicPair(t, testContext(t, 10*time.Second), pcA, pcB)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sA.Shutdown(ctx); err == nil {
		t.Error("Shutdown with a cancelled context reported an orderly close")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := sA.Close(); err == nil {
		t.Error("Close after a failed Shutdown reported success")
	}
}
