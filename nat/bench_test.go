//go:build unix

package nat

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// BenchmarkLoopbackQUIC measures QUIC on the agent's socket over a host
// pair on loopback (go test -bench LoopbackQUIC ./nat/): MB/s, and the CPU
// seconds per GiB the whole process used (both sides).
func BenchmarkLoopbackQUIC(b *testing.B) {
	const size = 256 << 20
	_, _, pcA, pcB := loopbackPair(b)
	sA, sB := quicPair(b, testContext(b, 10*time.Second), pcA, pcB)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, sB)
		done <- err
	}()
	b.SetBytes(size)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for range b.N {
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := sA.Write(buf); err != nil {
				b.Fatalf("write: %v", err)
			}
		}
	}
	if err := sA.CloseWrite(); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatalf("read: %v", err)
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(cpu.Seconds()/float64(b.N)/(size/float64(1<<30)), "cpu-s/GiB")
}
