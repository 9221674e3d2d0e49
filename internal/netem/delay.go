package netem

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"sync/atomic"
	"time"
)

// DefaultLimit is how many packets a DelayLine holds at most when its
// Limit is 0: 100 Mbit/s for 500 ms in 1500-byte packets, well above any
// bandwidth-delay product the benchmarks use.
const DefaultLimit = 4096

// MaxPacket is the largest packet a DelayLine carries: a TUN without GSO
// hands over packets of at most its MTU, which Start sets to 1500.
const MaxPacket = 2048

// DelayLine holds every packet it reads for Delay and then writes it out,
// in the order read, dropping each at random with probability Loss. One
// DelayLine carries both directions of a link through one TUN device, so
// Delay is the one-way delay (RTT/2).
//
// It reads from an io.Reader that returns one packet per Read and writes
// each packet with one Write (a TUN file does both), so a test can run it
// over anything that passes packets, without root.
type DelayLine struct {
	Delay time.Duration // one-way
	Loss  float64       // 0 to 1
	Limit int           // packets held at most, beyond which new ones are dropped; 0 means DefaultLimit
	Seed  uint64        // seeds the loss decisions; 0 means a random seed

	read, lost, overflow, written atomic.Uint64
}

// Stats counts what a DelayLine did with the packets it read.
type Stats struct {
	Read     uint64 // packets read
	Lost     uint64 // dropped at random (Loss)
	Overflow uint64 // dropped because Limit packets were already held
	Written  uint64 // packets written out
}

// Stats returns the counts so far; it is safe to call while Run runs.
func (d *DelayLine) Stats() Stats {
	return Stats{Read: d.read.Load(), Lost: d.lost.Load(), Overflow: d.overflow.Load(), Written: d.written.Load()}
}

type held struct {
	due time.Time
	b   []byte
}

// Run moves packets from in to out until ctx ends or in fails, and
// returns the error that stopped it (ctx.Err() when ctx ended). When ctx
// ends, Run sets a past read deadline on in if in has SetReadDeadline (an
// *os.File of a TUN device does), so a blocked Read returns; otherwise it
// waits for the caller to make Read return, by closing in. A failed Write
// is counted as a loss, as a link would lose the packet: a TUN refuses a
// packet the kernel cannot take, and the link carries on.
func (d *DelayLine) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	if d.Loss < 0 || d.Loss > 1 {
		return fmt.Errorf("netem: loss %v is not between 0 and 1", d.Loss)
	}
	limit := d.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	seed := d.Seed
	if seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	rng := mrand.New(mrand.NewPCG(seed, seed>>1|1))
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	if dl, ok := in.(interface{ SetReadDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { dl.SetReadDeadline(time.Now()) })
		defer stop()
	}
	queue := make(chan held, limit)
	free := make(chan []byte, limit+1) // buffers back from the writer
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		d.write(run, queue, free, out)
	}()
	var err error
	for {
		var b []byte
		select {
		case b = <-free:
		default:
			b = make([]byte, MaxPacket)
		}
		n, rerr := in.Read(b[:cap(b)])
		if rerr != nil {
			err = rerr
			break
		}
		d.read.Add(1)
		if d.Loss > 0 && rng.Float64() < d.Loss {
			d.lost.Add(1)
			recycle(free, b)
			continue
		}
		select {
		case queue <- held{due: time.Now().Add(d.Delay), b: b[:n]}:
		default:
			d.overflow.Add(1)
			recycle(free, b)
		}
	}
	cancel()
	<-writerDone
	if ctx.Err() != nil && (errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF)) {
		return ctx.Err()
	}
	return err
}

// write writes each held packet once it is due, until ctx ends.
func (d *DelayLine) write(ctx context.Context, queue <-chan held, free chan<- []byte, out io.Writer) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var p held
		select {
		case p = <-queue:
		case <-ctx.Done():
			return
		}
		if wait := time.Until(p.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		if _, err := out.Write(p.b); err != nil {
			d.lost.Add(1)
		} else {
			d.written.Add(1)
		}
		recycle(free, p.b)
	}
}

// recycle hands b back for another packet, unless enough are spare.
func recycle(free chan<- []byte, b []byte) {
	select {
	case free <- b[:cap(b)]:
	default:
	}
}
