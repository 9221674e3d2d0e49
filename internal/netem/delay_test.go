package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// pipe passes packets from its Write to its Read, as a TUN passes them
// from the kernel to the reader, with a deadline that stops Read.
type pipe struct {
	ch       chan []byte
	stop     chan struct{}
	stopOnce sync.Once
}

func newPipe() *pipe { return &pipe{ch: make(chan []byte, 8192), stop: make(chan struct{})} }

func (p *pipe) Write(b []byte) (int, error) {
	p.ch <- slices.Clone(b)
	return len(b), nil
}

func (p *pipe) Read(b []byte) (int, error) {
	select {
	case pkt := <-p.ch:
		return copy(b, pkt), nil
	case <-p.stop:
		return 0, os.ErrDeadlineExceeded
	}
}

func (p *pipe) SetReadDeadline(time.Time) error {
	p.stopOnce.Do(func() { close(p.stop) })
	return nil
}

// runLine runs d from a new pipe to another; t.Cleanup stops it and
// checks that it stopped with the context's error.
func runLine(t *testing.T, d *DelayLine) (in, out *pipe) {
	in, out = newPipe(), newPipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, in, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5 s of its context ending")
		}
	})
	return in, out
}

// TestDelayLineDelay sends 40 packets one at a time, each after the last
// came out: none may come out before the delay, and the median no more
// than 30 ms after it (generous, for a loaded machine).
func TestDelayLineDelay(t *testing.T) {
	const delay = 25 * time.Millisecond
	in, out := runLine(t, &DelayLine{Delay: delay})
	var took []time.Duration
	for i := range 40 {
		pkt := binary.BigEndian.AppendUint32(nil, uint32(i))
		sent := time.Now()
		in.Write(pkt)
		select {
		case got := <-out.ch:
			took = append(took, time.Since(sent))
			if !slices.Equal(got, pkt) {
				t.Fatalf("packet %d came out as %x, want %x", i, got, pkt)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d did not come out within 5 s", i)
		}
	}
	slices.Sort(took)
	t.Logf("delay %v: min %v, median %v, max %v", delay, took[0], took[len(took)/2], took[len(took)-1])
	if took[0] < delay {
		t.Errorf("a packet came out after %v, before the delay of %v", took[0], delay)
	}
	if med := took[len(took)/2]; med > delay+30*time.Millisecond {
		t.Errorf("median delay %v, want at most %v", med, delay+30*time.Millisecond)
	}
}

// TestDelayLineLoss sends 2,000 packets through a line that loses 10%:
// between 5% and 15% must be lost, the rest come out in order.
func TestDelayLineLoss(t *testing.T) {
	const n = 2000
	d := &DelayLine{Delay: time.Millisecond, Loss: 0.1}
	in, out := runLine(t, d)
	for i := range n {
		in.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.Stats().Read < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last packets' delay
	var got []uint32
	for len(out.ch) > 0 {
		got = append(got, binary.BigEndian.Uint32(<-out.ch))
	}
	s := d.Stats()
	lost := n - len(got)
	t.Logf("%d of %d lost; stats %+v", lost, n, s)
	if lost < n*5/100 || lost > n*15/100 {
		t.Errorf("%d of %d packets lost, want between 5%% and 15%%", lost, n)
	}
	if s.Lost != uint64(lost) || s.Read != n || s.Written != uint64(len(got)) {
		t.Errorf("stats %+v, but %d read and %d came out", s, n, len(got))
	}
	if !slices.IsSorted(got) {
		t.Error("packets came out out of order")
	}
}

// TestDelayLineLimit fills a line that holds at most 10 packets: the
// rest are dropped and counted, and the 10 come out.
func TestDelayLineLimit(t *testing.T) {
	d := &DelayLine{Delay: 300 * time.Millisecond, Limit: 10}
	in, out := runLine(t, d)
	for i := range 50 {
		in.Write([]byte{byte(i)})
	}
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Read < 50 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for i := range 10 {
		select {
		case got := <-out.ch:
			if got[0] != byte(i) {
				t.Fatalf("packet %d came out as %d", i, got[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %d did not come out", i)
		}
	}
	// The writer may hold one more taken from the queue before it filled.
	if s := d.Stats(); s.Overflow < 39 || s.Overflow > 40 {
		t.Errorf("stats %+v, want 39 or 40 overflowed", s)
	}
}

func TestDelayLineBadLoss(t *testing.T) {
	err := (&DelayLine{Loss: 1.5}).Run(context.Background(), newPipe(), newPipe())
	if err == nil {
		t.Fatal("Run accepted a loss of 1.5")
	}
}
