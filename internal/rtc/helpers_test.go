package rtc

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// testLogger logs to stderr when RTC_TEST_LOG is set (a slog level, e.g.
// -4 for pion's trace output), and is silent otherwise.
func testLogger() *slog.Logger {
	v, ok := os.LookupEnv("RTC_TEST_LOG")
	if !ok {
		return nil
	}
	level, _ := strconv.Atoi(v)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(level)}))
}

func testContext(tb testing.TB, d time.Duration) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// loopback are options for a side on loopback, with no ICE servers.
func loopback(role Role) Options {
	return Options{Role: role, LoopbackOnly: true, Logger: testLogger()}
}

type dialed struct {
	c   *Conn
	err error
}

// dialPair runs Dial on both sides, offerer and answerer, carrying their
// signals to each other through rewrite (nil: unchanged), and returns
// both results.
func dialPair(ctx context.Context, tb testing.TB, off, ans Options, rewrite func(Signal) Signal) (dialed, dialed) {
	tb.Helper()
	toOff, toAns := make(chan Signal, 2*maxQueuedSignals), make(chan Signal, 2*maxQueuedSignals)
	carry := func(to chan<- Signal) func(context.Context, Signal) error {
		return func(ctx context.Context, s Signal) error {
			if rewrite != nil {
				s = rewrite(s)
			}
			select {
			case to <- s:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	off.Role, off.Send, off.Recv = Offerer, carry(toAns), toOff
	ans.Role, ans.Send, ans.Recv = Answerer, carry(toOff), toAns
	// Signalling stops when the test ends, as the link's race context does.
	sctx, cancel := context.WithCancel(ctx)
	tb.Cleanup(cancel)
	done := make(chan dialed, 1)
	go func() {
		c, err := Dial(sctx, ans)
		done <- dialed{c, err}
	}()
	c, err := Dial(sctx, off)
	a := <-done
	for _, d := range []dialed{{c, err}, a} {
		if d.c != nil {
			tb.Cleanup(d.c.Abort)
		}
	}
	return dialed{c, err}, a
}

// connected dials a pair that must connect.
func connected(ctx context.Context, tb testing.TB, off, ans Options) (*Conn, *Conn) {
	tb.Helper()
	o, a := dialPair(ctx, tb, off, ans, nil)
	if o.err != nil || a.err != nil {
		tb.Fatalf("Dial: offerer: %v, answerer: %v", o.err, a.err)
	}
	return o.c, a.c
}

// stream returns size pseudo-random bytes, the same for the same seed.
func stream(seed byte, size int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), size)
}

func digest(r io.Reader) ([32]byte, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return [32]byte(h.Sum(nil)), n, err
}

// countWriter counts what passes through it.
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}
