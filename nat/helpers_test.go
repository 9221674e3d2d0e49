package nat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// testLogger logs to stderr when NAT_TEST_LOG is set (e.g. NAT_TEST_LOG=-4
// for pion's trace output), and is silent otherwise.
func testLogger() *slog.Logger {
	v, ok := os.LookupEnv("NAT_TEST_LOG")
	if !ok {
		return nil
	}
	var level slog.Level
	if i, err := strconv.Atoi(v); err == nil {
		level = slog.Level(i)
	} else {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func newTestAgent(tb testing.TB, cfg Config) *Agent {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	a, err := NewAgent(cfg)
	if err != nil {
		tb.Fatalf("NewAgent: %v", err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

// trickle forwards every Signal from's Gather emits to to.Apply, as the
// caller's encrypted channel would. The returned channel yields, once
// gathering is done, how many candidates were forwarded.
func trickle(tb testing.TB, from, to *Agent) <-chan int {
	tb.Helper()
	done := make(chan int, 1)
	n := 0
	err := from.Gather(func(s Signal) {
		if err := to.Apply(s); err != nil {
			tb.Errorf("Apply(%+v): %v", s, err)
		}
		n += len(s.Candidates)
		if s.Done {
			done <- n
		}
	})
	if err != nil {
		tb.Fatalf("Gather: %v", err)
	}
	return done
}

// connectAgents exchanges signals between a and b and connects them, with a
// controlling. It lets all candidates land before starting the checks, so
// that no check arrives from a candidate not signalled yet (which ICE would
// then label peer-reflexive) and the selected pair types are deterministic.
func connectAgents(tb testing.TB, ctx context.Context, a, b *Agent) (PacketConn, PacketConn) {
	tb.Helper()
	toB, toA := trickle(tb, a, b), trickle(tb, b, a)
	for _, w := range []struct {
		agent *Agent
		sent  <-chan int
	}{{b, toB}, {a, toA}} {
		select {
		case n := <-w.sent:
			if got := waitRemoteCount(tb, w.agent, n); got != n {
				tb.Fatalf("agent holds %d remote candidates, %d were sent", got, n)
			}
		case <-ctx.Done():
			tb.Fatalf("gathering: %v", ctx.Err())
		}
	}
	type result struct {
		pc  PacketConn
		err error
	}
	done := make(chan result, 1)
	go func() {
		pc, err := b.Connect(ctx, false)
		done <- result{pc, err}
	}()
	pcA, errA := a.Connect(ctx, true)
	rb := <-done
	if errA != nil || rb.err != nil {
		tb.Fatalf("Connect: controlling: %v, controlled: %v", errA, rb.err)
	}
	return pcA, rb.pc
}

// quicPair runs Dial over pcA and Accept over pcB with fresh identities.
func quicPair(tb testing.TB, ctx context.Context, pcA, pcB PacketConn) (*Stream, *Stream) {
	tb.Helper()
	idA, idB := newIdentity(tb), newIdentity(tb)
	type result struct {
		s   *Stream
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Accept(ctx, pcB, idB, idA.Fingerprint())
		done <- result{s, err}
	}()
	sA, errA := Dial(ctx, pcA, idA, idB.Fingerprint())
	rb := <-done
	if errA != nil || rb.err != nil {
		tb.Fatalf("Dial: %v, Accept: %v", errA, rb.err)
	}
	tb.Cleanup(func() { sA.Abort(); rb.s.Abort() })
	return sA, rb.s
}

func newIdentity(tb testing.TB) *Identity {
	tb.Helper()
	id, err := NewIdentity()
	if err != nil {
		tb.Fatalf("NewIdentity: %v", err)
	}
	return id
}

// transfer sends size pseudo-random bytes from sender to receiver, which
// replies with their SHA-256 and length; both then close in order. It fails
// the test unless everything arrives intact and both closes succeed.
func transfer(tb testing.TB, sender, receiver *Stream, size int64) {
	tb.Helper()
	recvDone := make(chan error, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, receiver)
		if err != nil {
			recvDone <- fmt.Errorf("receiver read: %w", err)
			return
		}
		reply := binary.BigEndian.AppendUint64(h.Sum(nil), uint64(n))
		if _, err := receiver.Write(reply); err != nil {
			recvDone <- fmt.Errorf("receiver write: %w", err)
			return
		}
		recvDone <- receiver.Close()
	}()

	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size), h)
	start := time.Now()
	if _, err := io.Copy(sender, src); err != nil {
		tb.Fatalf("sender write: %v", err)
	}
	if err := sender.CloseWrite(); err != nil {
		tb.Fatalf("CloseWrite: %v", err)
	}
	reply, err := io.ReadAll(sender)
	if err != nil {
		tb.Fatalf("sender read reply: %v", err)
	}
	elapsed := time.Since(start)
	want := binary.BigEndian.AppendUint64(h.Sum(nil), uint64(size))
	if !bytes.Equal(reply, want) {
		tb.Fatalf("receiver got different data: reply %x, want %x", reply, want)
	}
	if err := sender.Close(); err != nil {
		tb.Errorf("sender Close: %v", err)
	}
	if err := <-recvDone; err != nil {
		tb.Errorf("receiver: %v", err)
	}
	tb.Logf("moved %d bytes in %v (%.1f MB/s)", size, elapsed.Round(time.Millisecond),
		float64(size)/elapsed.Seconds()/1e6)
}

func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

func isErr(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
