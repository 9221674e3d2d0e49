//go:build unix

package rtc

import (
	"io"
	"syscall"
	"testing"
	"time"
)

// BenchmarkConn measures a pion-to-pion data channel on loopback (go test
// -bench Conn ./internal/rtc/): MB/s, and the CPU the whole process used
// per MB sent (both sides' SCTP, DTLS and UDP), which bounds what one
// side costs when the other is a browser.
func BenchmarkConn(b *testing.B) {
	ctx := testContext(b, 5*time.Minute)
	off, ans := connected(ctx, b, loopback(Offerer), loopback(Answerer))
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	b.SetBytes(size)
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			n, err := io.CopyN(io.Discard, ans, size)
			if err == nil && n != size {
				err = io.ErrUnexpectedEOF
			}
			done <- err
		}()
		for sent := 0; sent < size; sent += len(buf) {
			if _, err := off.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N)/(size/1e6), "cpu-ms/MB")
}
